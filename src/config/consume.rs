//! Semantic checks of a `source = "consume-once"` connection: a feed whose every read marks
//! what it returns as processed, and the EHR's re-read window that recovers a page read but
//! not yet stored when Courier stopped.

use std::time::Duration;

use super::bounds::Max;
use super::changes::event_type_template;
use super::locate::KeyPath;
use super::raw::{RawConnection, RawRecovery};
use super::validate::Checker;
use super::{Config, ConsumeOnceSource, EnrichStep, Recovery, Source};

/// Changes per read at most: each page is held in memory at once.
const PAGE_SIZE_AT_MOST: u32 = 100_000;
/// Default `recovery.margin_secs`: clocks of Courier and the EHR rarely drift further.
const DEFAULT_MARGIN_SECS: f64 = 300.0;
/// A re-read further back than a day only re-reads more to drop.
const MARGIN_AT_MOST: Max = Max::secs(86_400, "1 day");
/// Default `recovery.time_format`: RFC 3339 in whole seconds, UTC.
const DEFAULT_TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%SZ";

impl Config {
    /// What is accepted but risks data, one line per case, for `courier check` to print
    /// (they do not fail the check): a consume-once feed without a re-read window.
    pub fn warnings(&self) -> Vec<String> {
        self.connections
            .values()
            .filter(|c| matches!(&c.source, Source::ConsumeOnce(feed) if feed.recovery.is_none()))
            .map(|c| {
                format!(
                    "connections.{}: source = \"consume-once\" without [connections.{}.recovery]: \
                     a crash or a lost response between a GET and its commit loses that page \
                     (the EHR marked it processed)",
                    c.id, c.id
                )
            })
            .collect()
    }
}

/// A consume-once feed's settings, checked, but for its enrichment steps.
pub(super) struct CheckedConsumeOnce(ConsumeOnceSource);

impl CheckedConsumeOnce {
    /// The feed's settings, with the connection's enrichment steps.
    pub(super) fn source(self, enrich: Vec<EnrichStep>) -> ConsumeOnceSource {
        ConsumeOnceSource { enrich, ..self.0 }
    }
}

/// Checks a `source = "consume-once"` connection's own keys; `None` once something was
/// reported.
pub(super) fn check(
    check: &mut Checker<'_>,
    path: &KeyPath,
    raw: &RawConnection,
) -> Option<CheckedConsumeOnce> {
    refuse_other_keys(check, path, raw);
    let required = [
        ("changes_path", raw.changes_path.is_some()),
        ("key_pointer", raw.key_pointer.is_some()),
        ("event_type", raw.event_type.is_some()),
    ];
    check.required(path, &required);
    let (changes_path, key_pointer, event_type) = (
        raw.changes_path.clone()?,
        raw.key_pointer.clone()?,
        raw.event_type.clone()?,
    );
    if !changes_path.starts_with('/') {
        let message = "must start with \"/\" (it is appended to base_url)";
        check.report(&path.key("changes_path"), message);
    }
    let event_type = event_type_template(check, &path.key("event_type"), &event_type);
    let items_pointer = raw.items_pointer.clone().unwrap_or_default();
    for (key, pointer) in [
        ("items_pointer", Some(items_pointer.as_str())),
        ("key_pointer", Some(key_pointer.as_str())),
        ("version_pointer", raw.version_pointer.as_deref()),
    ] {
        if let Some(pointer) = pointer {
            check.pointer(&path.key(key), pointer);
        }
    }
    let page_size = match (&raw.page_size_param, raw.page_size) {
        (Some(_), size) => {
            let size = check.count(&path.key("page_size"), size, 100, PAGE_SIZE_AT_MOST)?;
            Some(Some(size))
        }
        (None, Some(_)) => {
            let message = "page_size requires page_size_param (the query parameter)";
            check.report(&path.key("page_size"), message);
            None
        }
        (None, None) => Some(None),
    };
    let recovery = match &raw.recovery {
        Some(recovery) => recovery_window(check, &path.key("recovery"), recovery).map(Some),
        None => Some(None),
    };
    Some(CheckedConsumeOnce(ConsumeOnceSource {
        changes_path,
        page_size_param: raw.page_size_param.clone(),
        page_size: page_size?,
        items_pointer,
        key_pointer,
        version_pointer: raw.version_pointer.clone(),
        event_type: event_type?,
        recovery: recovery?,
        enrich: Vec::new(),
    }))
}

/// `[connections.<id>.recovery]`.
fn recovery_window(check: &mut Checker<'_>, path: &KeyPath, raw: &RawRecovery) -> Option<Recovery> {
    check.non_empty(&path.key("start_param"), &raw.start_param);
    check.non_empty(&path.key("end_param"), &raw.end_param);
    if let Some(offset_param) = &raw.offset_param {
        check.non_empty(&path.key("offset_param"), offset_param);
    }
    let time_format = raw
        .time_format
        .clone()
        .unwrap_or_else(|| DEFAULT_TIME_FORMAT.to_owned());
    if !formats_cleanly(&time_format) {
        let message = format!("{time_format:?} is not a chrono strftime format");
        check.report(&path.key("time_format"), message);
    }
    let margin = check.delay_secs(
        &path.key("margin_secs"),
        raw.margin_secs.unwrap_or(DEFAULT_MARGIN_SECS),
        MARGIN_AT_MOST,
    );
    let params = url::form_urlencoded::parse(raw.params.as_deref().unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    formats_cleanly(&time_format).then_some(())?;
    Some(Recovery {
        start_param: raw.start_param.clone(),
        end_param: raw.end_param.clone(),
        time_format,
        margin: margin.unwrap_or(Duration::ZERO),
        params,
        offset_param: raw.offset_param.clone(),
    })
}

/// Whether chrono can write a time in `format` (a bad specifier fails only when written).
pub(super) fn formats_cleanly(format: &str) -> bool {
    use std::fmt::Write;
    let mut out = String::new();
    write!(out, "{}", chrono::Utc::now().format(format)).is_ok()
}

/// Keys of the other source kinds.
fn refuse_other_keys(check: &mut Checker<'_>, path: &KeyPath, raw: &RawConnection) {
    let keys = [
        ("since_param", raw.since_param.is_some()),
        ("initial_cursor", raw.initial_cursor.is_some()),
        ("cursor_pointer", raw.cursor_pointer.is_some()),
        ("cursor_from", raw.cursor_from.is_some()),
        ("initial_since", raw.initial_since.is_some()),
        ("resources", !raw.resources.is_empty()),
        ("list_path", raw.list_path.is_some()),
        ("list_query", raw.list_query.is_some()),
        ("window_start", raw.window_start.is_some()),
        ("window_end", raw.window_end.is_some()),
        ("compare", raw.compare.is_some()),
        ("date_format", raw.date_format.is_some()),
        ("date_pointer", raw.date_pointer.is_some()),
        ("total_pointer", raw.total_pointer.is_some()),
        ("next_pointer", raw.next_pointer.is_some()),
        ("offset_param", raw.offset_param.is_some()),
        ("confirm_path", raw.confirm_path.is_some()),
        ("event_prefix", raw.event_prefix.is_some()),
        ("initial", raw.initial.is_some()),
    ];
    for (key, _) in keys.iter().filter(|(_, set)| *set) {
        check.report(
            &path.key(key),
            "does not apply with source = \"consume-once\"",
        );
    }
}
