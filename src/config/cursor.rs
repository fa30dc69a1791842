//! Where a connection's cursor comes from: the items' own positions, or the EHR's clock (its
//! `Date` header) minus a lag, for feeds whose items carry no usable position.

use std::time::Duration;

use super::bounds::Max;
use super::locate::KeyPath;
use super::raw::RawConnection;
use super::validate::Checker;
use super::CursorFrom;

/// Default `lag_secs` with `cursor_from = "date_header"`.
const DEFAULT_LAG_SECS: f64 = 5.0;
/// The largest `lag_secs` accepted.
const LAG_SECS_AT_MOST: Max = Max::secs(3_600, "1 hour");
/// Default `max_clock_skew_secs`: NTP keeps clocks far closer; five minutes is what Kerberos
/// and most token validators tolerate.
pub(super) const DEFAULT_MAX_CLOCK_SKEW: Duration = Duration::from_secs(300);
/// The smallest `max_clock_skew_secs`: a `Date` header has whole seconds.
const MAX_CLOCK_SKEW_SECS_AT_LEAST: f64 = 1.0;
/// The largest `max_clock_skew_secs`: an EHR clock a day ahead is broken, not skewed.
const MAX_CLOCK_SKEW_SECS_AT_MOST: Max = Max::secs(86_400, "1 day");

/// Checks `cursor_from` and the keys that depend on it; `None` once reported.
pub(super) fn cursor_from(
    check: &mut Checker<'_>,
    path: &KeyPath,
    raw: &RawConnection,
) -> Option<CursorFrom> {
    match raw.cursor_from.as_deref().unwrap_or("items") {
        "items" => items(check, path, raw),
        "date_header" => date_header(check, path, raw),
        other => {
            let message =
                format!("unknown value \"{other}\" (expected \"items\" or \"date_header\")");
            check.report(&path.key("cursor_from"), message);
            None
        }
    }
}

fn items(check: &mut Checker<'_>, path: &KeyPath, raw: &RawConnection) -> Option<CursorFrom> {
    let mut valid = true;
    if raw.cursor_pointer.is_none() {
        check.report(
            &path.key("cursor_pointer"),
            "missing required key (the cursor comes from the items)",
        );
        valid = false;
    }
    if raw.lag_secs.is_some() {
        check.report(
            &path.key("lag_secs"),
            "only applies with cursor_from = \"date_header\"",
        );
        valid = false;
    }
    valid.then_some(CursorFrom::Items)
}

/// A window read up to the EHR's clock minus the lag comes back whole in one response, and
/// two changes of a record can only be told apart by a version.
fn date_header(check: &mut Checker<'_>, path: &KeyPath, raw: &RawConnection) -> Option<CursorFrom> {
    let mut valid = true;
    if raw.page_size.is_some() || raw.page_size_param.is_some() {
        let key = if raw.page_size.is_some() {
            "page_size"
        } else {
            "page_size_param"
        };
        let message = "not with cursor_from = \"date_header\": each poll reads its whole window in one request";
        check.report(&path.key(key), message);
        valid = false;
    }
    if raw.version_pointer.is_none() && raw.cursor_pointer.is_none() {
        let message = "required with cursor_from = \"date_header\" (unless cursor_pointer is set), to tell two changes of a record apart";
        check.report(&path.key("version_pointer"), message);
        valid = false;
    }
    let lag_path = path.key("lag_secs");
    let lag: Option<Duration> = check.delay_secs(
        &lag_path,
        raw.lag_secs.unwrap_or(DEFAULT_LAG_SECS),
        LAG_SECS_AT_MOST,
    );
    let lag = lag?;
    valid.then_some(CursorFrom::DateHeader { lag })
}

/// Checks `max_clock_skew_secs`, which bounds how far a time cursor may run ahead of
/// Courier's clock; `None` once reported.
pub(super) fn max_clock_skew(
    check: &mut Checker<'_>,
    path: &KeyPath,
    secs: Option<f64>,
) -> Option<Duration> {
    check.secs_at_least(
        &path.key("max_clock_skew_secs"),
        secs,
        DEFAULT_MAX_CLOCK_SKEW.as_secs_f64(),
        (MAX_CLOCK_SKEW_SECS_AT_LEAST, MAX_CLOCK_SKEW_SECS_AT_MOST),
    )
}
