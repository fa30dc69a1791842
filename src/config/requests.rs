//! How the requests of a connection or destination are timed and paced: the connect and body
//! timeouts, a request rate and a concurrency limit.

use std::time::Duration;

use super::bounds::{toml_float, Max};
use super::locate::KeyPath;
use super::raw::RawConnection;
use super::validate::Checker;

/// Timeout of opening a connection, unless configured.
pub(super) const DEFAULT_CONNECT_TIMEOUT_MS: i64 = 10_000;
/// Timeout of reading a whole EHR response body, unless configured: generous, since a large
/// FHIR bundle on a slow link takes a while.
pub(super) const DEFAULT_BODY_TIMEOUT_MS: i64 = 60_000;

// Bounds (see `bounds` for why there are any).

/// A connection still not open after an hour will not open.
const CONNECT_TIMEOUT_MS_AT_MOST: Max = Max::millis(3_600_000, "1 hour");
/// A body still arriving after an hour is not worth waiting for.
const BODY_TIMEOUT_MS_AT_MOST: Max = Max::millis(3_600_000, "1 hour");
/// Fewer requests than this would leave an EHR unwatched for over a quarter of an hour
/// between two requests; the spacing between requests (1 / rate) must also fit a timer.
const MAX_REQUESTS_PER_SEC_AT_LEAST: f64 = 0.001;
/// Far beyond any EHR's published limit.
const MAX_REQUESTS_PER_SEC_AT_MOST: f64 = 10_000.0;
/// Every request in flight holds a socket.
const MAX_CONCURRENT_REQUESTS_AT_MOST: u32 = 10_000;

/// The timing and pacing keys of one connection, checked.
pub(super) struct RequestLimits {
    pub connect_timeout: Duration,
    pub body_timeout: Duration,
    pub max_requests_per_sec: Option<f64>,
    pub max_concurrent_requests: Option<usize>,
}

/// Checks a connection's timing and pacing keys; the connect timeout is capped by
/// `request_timeout` (when that one is valid), which it is a part of.
pub(super) fn request_limits(
    check: &mut Checker<'_>,
    path: &KeyPath,
    raw: &RawConnection,
    request_timeout: Option<Duration>,
) -> Option<RequestLimits> {
    let connect_timeout = connect_timeout(
        check,
        &path.key("connect_timeout_ms"),
        raw.connect_timeout_ms,
        request_timeout,
    );
    let body_timeout = check.millis(
        &path.key("body_timeout_ms"),
        raw.body_timeout_ms,
        DEFAULT_BODY_TIMEOUT_MS,
        BODY_TIMEOUT_MS_AT_MOST,
    );
    let rate = request_rate(
        check,
        &path.key("max_requests_per_sec"),
        raw.max_requests_per_sec,
    );
    let concurrency = match raw.max_concurrent_requests {
        None => Some(None),
        Some(count) => check
            .count(
                &path.key("max_concurrent_requests"),
                Some(count),
                1,
                MAX_CONCURRENT_REQUESTS_AT_MOST,
            )
            .map(Some),
    };
    Some(RequestLimits {
        connect_timeout: connect_timeout?,
        body_timeout: body_timeout?,
        max_requests_per_sec: rate?,
        max_concurrent_requests: concurrency?,
    })
}

/// A `connect_timeout_ms`, capped by the whole-phase timeout `cap` it is part of: a default
/// of 10 s must not outlast a request timeout configured shorter.
pub(super) fn connect_timeout(
    check: &mut Checker<'_>,
    path: &KeyPath,
    value: Option<i64>,
    cap: Option<Duration>,
) -> Option<Duration> {
    let timeout = check.millis(
        path,
        value,
        DEFAULT_CONNECT_TIMEOUT_MS,
        CONNECT_TIMEOUT_MS_AT_MOST,
    )?;
    Some(cap.map_or(timeout, |cap| timeout.min(cap)))
}

/// `max_requests_per_sec`: `Some(None)` when unset, `None` once reported.
fn request_rate(
    check: &mut Checker<'_>,
    path: &KeyPath,
    value: Option<f64>,
) -> Option<Option<f64>> {
    let Some(rate) = value else {
        return Some(None);
    };
    let problem = if !rate.is_finite() {
        "must be a finite number"
    } else if rate <= 0.0 {
        "must be greater than 0"
    } else if rate < MAX_REQUESTS_PER_SEC_AT_LEAST {
        "must be at least 0.001 (one request per 1000 seconds)"
    } else if rate > MAX_REQUESTS_PER_SEC_AT_MOST {
        "must be at most 10000"
    } else {
        return Some(Some(rate));
    };
    check.report(path, format!("{problem} (got {})", toml_float(rate)));
    None
}
