//! Semantic checks of the keys of the sources that compare listings: a `source = "snapshot"`
//! connection, and a FHIR resource type with `mode = "snapshot"`; both have a window of time
//! expressions and an `initial` choice.

use super::locate::KeyPath;
use super::raw::{RawConnection, RawFhirResource};
use super::validate::Checker;
use super::{EnrichStep, FhirMode, FhirWindow, Initial, Paging, SnapshotSource};
use crate::template::Template;
use crate::window::{TimeExpr, TimeTemplate, Window};

/// Records per offset page unless configured.
const DEFAULT_PAGE_SIZE: i64 = 500;
/// Each page is held in memory at once.
const PAGE_SIZE_AT_MOST: u32 = 10_000;
/// An appointment's date, the usual one a schedule is windowed by.
const DEFAULT_DATE_POINTER: &str = "/start";

/// A snapshot source's settings, checked, but for its enrichment steps.
pub(super) struct CheckedSnapshot(SnapshotSource);

impl CheckedSnapshot {
    /// The source's settings, with the connection's enrichment steps.
    pub(super) fn source(self, enrich: Vec<EnrichStep>) -> SnapshotSource {
        SnapshotSource { enrich, ..self.0 }
    }
}

/// Checks a `source = "snapshot"` connection's own keys; `None` once something was reported.
pub(super) fn check(
    check: &mut Checker<'_>,
    path: &KeyPath,
    raw: &RawConnection,
) -> Option<CheckedSnapshot> {
    refuse_other_keys(check, path, raw);
    let required = [
        ("list_path", raw.list_path.is_some()),
        ("key_pointer", raw.key_pointer.is_some()),
        ("window_start", raw.window_start.is_some()),
        ("window_end", raw.window_end.is_some()),
        ("event_prefix", raw.event_prefix.is_some()),
    ];
    check.required(path, &required);
    let list_path = raw.list_path.clone()?;
    if !list_path.starts_with('/') {
        let message = "must start with \"/\" (it is appended to base_url)";
        check.report(&path.key("list_path"), message);
    }
    let list_query = time_template(check, &path.key("list_query"), raw.list_query.as_deref());
    let window = window(check, path, (&raw.window_start, &raw.window_end));
    let date_pointer = raw.date_pointer.as_deref().unwrap_or(DEFAULT_DATE_POINTER);
    let key_pointer = raw.key_pointer.clone()?;
    let items_pointer = raw.items_pointer.clone().unwrap_or_default();
    let compare = raw.compare.clone().unwrap_or_default();
    for (key, pointer) in [
        ("date_pointer", Some(date_pointer)),
        ("key_pointer", Some(key_pointer.as_str())),
        ("items_pointer", Some(items_pointer.as_str())),
        ("next_pointer", raw.next_pointer.as_deref()),
        ("total_pointer", raw.total_pointer.as_deref()),
    ] {
        if let Some(pointer) = pointer {
            check.pointer(&path.key(key), pointer);
        }
    }
    for (i, pointer) in compare.iter().enumerate() {
        check.pointer(&path.key("compare").index(i), pointer);
    }
    if let Some(format) = &raw.date_format {
        // A bad specifier would only fail when a listing's query is written.
        if !super::consume::formats_cleanly(format) {
            let message = format!("{format:?} is not a chrono strftime format");
            check.report(&path.key("date_format"), message);
        }
    }
    let confirm_path = match &raw.confirm_path {
        Some(text) if !text.starts_with('/') => {
            let message = "must start with \"/\" (it is appended to base_url)";
            check.report(&path.key("confirm_path"), message);
            None
        }
        Some(text) => match Template::parse(text) {
            Ok(template)
                if template
                    .render(&serde_json::json!({"key": "k"}), &Default::default())
                    .is_ok() =>
            {
                Some(Some(template))
            }
            Ok(_) => {
                let message = "its only placeholder is {/key}, the record's key (nothing else of a record is kept)";
                check.report(&path.key("confirm_path"), message);
                None
            }
            Err(e) => {
                check.report(&path.key("confirm_path"), e.to_string());
                None
            }
        },
        None => Some(None),
    };
    let paging = paging(check, path, raw);
    let initial = initial(check, &path.key("initial"), raw.initial.as_deref());
    let event_prefix = raw.event_prefix.clone()?;
    check.non_empty(&path.key("event_prefix"), &event_prefix);
    Some(CheckedSnapshot(SnapshotSource {
        list_path,
        list_query: list_query?,
        date_format: raw.date_format.clone(),
        window: window?,
        date_pointer: date_pointer.to_owned(),
        items_pointer,
        key_pointer,
        compare,
        paging: paging?,
        total_pointer: raw.total_pointer.clone(),
        confirm_path: confirm_path?,
        initial: initial?,
        event_prefix,
        enrich: Vec::new(),
    }))
}

/// How a FHIR resource type finds its changes: `mode`, and for `"snapshot"` its window;
/// `None` once something was reported.
pub(super) fn fhir_mode(
    check: &mut Checker<'_>,
    path: &KeyPath,
    raw: &RawFhirResource,
) -> Option<FhirMode> {
    let window_keys = [
        ("window_start", raw.window_start.is_some()),
        ("window_end", raw.window_end.is_some()),
        ("date_pointer", raw.date_pointer.is_some()),
    ];
    match raw.mode.as_deref().unwrap_or("last-updated") {
        "last-updated" => {
            for (key, _) in window_keys.iter().filter(|(_, set)| *set) {
                check.report(&path.key(key), "only applies with mode = \"snapshot\"");
            }
            let initial = initial(check, &path.key("initial"), raw.initial.as_deref())?;
            // Only an explicit baseline starts at the server's clock: without `initial`, a
            // type starts from `initial_since`, as it always did.
            let baseline = raw.initial.is_some() && initial == Initial::Baseline;
            Some(FhirMode::LastUpdated { baseline })
        }
        "snapshot" => {
            if raw.deletes {
                let message = "not with mode = \"snapshot\": a resource missing from a \
                               listing is read by id, and one that is gone is notified as deleted";
                check.report(&path.key("deletes"), message);
            }
            let window = window(check, path, (&raw.window_start, &raw.window_end));
            let query = time_template(check, &path.key("params"), raw.params.as_deref());
            let date_pointer = raw.date_pointer.as_deref().unwrap_or(DEFAULT_DATE_POINTER);
            check.pointer(&path.key("date_pointer"), date_pointer);
            let initial = initial(check, &path.key("initial"), raw.initial.as_deref());
            Some(FhirMode::Snapshot(FhirWindow {
                query: query?,
                window: window?,
                date_pointer: date_pointer.to_owned(),
                initial: initial?,
            }))
        }
        other => {
            let message = format!("must be \"last-updated\" or \"snapshot\" (got {other:?})");
            check.report(&path.key("mode"), message);
            None
        }
    }
}

/// `initial`: `baseline` (the default) or `notify`.
pub(super) fn initial(
    check: &mut Checker<'_>,
    path: &KeyPath,
    text: Option<&str>,
) -> Option<Initial> {
    match text.unwrap_or("baseline") {
        "baseline" => Some(Initial::Baseline),
        "notify" => Some(Initial::Notify),
        other => {
            let message = format!("must be \"baseline\" or \"notify\" (got {other:?})");
            check.report(path, message);
            None
        }
    }
}

/// `window_start` and `window_end`, both required, the start before the end.
fn window(
    check: &mut Checker<'_>,
    path: &KeyPath,
    (start, end): (&Option<String>, &Option<String>),
) -> Option<Window> {
    let mut expr = |key: &str, text: &Option<String>| match text {
        None => {
            check.report(
                &path.key(key),
                "missing required key (with mode = \"snapshot\")",
            );
            None
        }
        Some(text) => TimeExpr::parse(text)
            .map_err(|e| check.report(&path.key(key), e))
            .ok(),
    };
    let (start, end) = (expr("window_start", start), expr("window_end", end));
    let window = Window {
        start: start?,
        end: end?,
    };
    let (from, to) = window.bounds(chrono::Utc::now());
    if from >= to {
        let message = format!("must be after window_start ({})", window.start);
        check.report(&path.key("window_end"), message);
        return None;
    }
    Some(window)
}

/// A query with time expressions; absent is an empty query.
fn time_template(
    check: &mut Checker<'_>,
    path: &KeyPath,
    text: Option<&str>,
) -> Option<TimeTemplate> {
    TimeTemplate::parse(text.unwrap_or_default())
        .map_err(|e| check.report(path, e))
        .ok()
}

/// `next_pointer`, or `offset_param` with `page_size_param` and `page_size`, or neither.
fn paging(check: &mut Checker<'_>, path: &KeyPath, raw: &RawConnection) -> Option<Paging> {
    match (&raw.next_pointer, &raw.offset_param, &raw.page_size_param) {
        (Some(_), Some(_), _) => {
            let message = "choose one way to page: next_pointer or offset_param";
            check.report(&path.key("offset_param"), message);
            None
        }
        (Some(next_pointer), None, _) => Some(Paging::Link {
            next_pointer: next_pointer.clone(),
        }),
        (None, Some(offset_param), Some(size_param)) => {
            check.non_empty(&path.key("offset_param"), offset_param);
            check.non_empty(&path.key("page_size_param"), size_param);
            let size = check.count(
                &path.key("page_size"),
                raw.page_size,
                DEFAULT_PAGE_SIZE,
                PAGE_SIZE_AT_MOST,
            )?;
            Some(Paging::Offset {
                offset_param: offset_param.clone(),
                size_param: size_param.clone(),
                size,
            })
        }
        (None, Some(_), None) => {
            let message = "offset_param requires page_size_param (the page size's parameter)";
            check.report(&path.key("offset_param"), message);
            None
        }
        (None, None, _) => Some(Paging::Single),
    }
}

/// Keys of the other source kinds.
fn refuse_other_keys(check: &mut Checker<'_>, path: &KeyPath, raw: &RawConnection) {
    let keys = [
        ("changes_path", raw.changes_path.is_some()),
        ("since_param", raw.since_param.is_some()),
        ("initial_cursor", raw.initial_cursor.is_some()),
        ("version_pointer", raw.version_pointer.is_some()),
        ("cursor_pointer", raw.cursor_pointer.is_some()),
        ("cursor_from", raw.cursor_from.is_some()),
        ("event_type", raw.event_type.is_some()),
        ("initial_since", raw.initial_since.is_some()),
        ("resources", !raw.resources.is_empty()),
        ("recovery", raw.recovery.is_some()),
    ];
    for (key, _) in keys.iter().filter(|(_, set)| *set) {
        let message = match *key {
            "event_type" => "not with source = \"snapshot\" (types come from event_prefix)",
            _ => "does not apply with source = \"snapshot\"",
        };
        check.report(&path.key(key), message);
    }
}

/// The keys only a snapshot source (or, `recovery`, a consume-once feed) has, refused on a
/// connection of another kind by name rather than silently ignored.
pub(super) fn refuse_listing_keys(
    check: &mut Checker<'_>,
    path: &KeyPath,
    raw: &RawConnection,
    source: &str,
) {
    let keys = [
        ("list_path", raw.list_path.is_some()),
        ("list_query", raw.list_query.is_some()),
        ("date_format", raw.date_format.is_some()),
        ("window_start", raw.window_start.is_some()),
        ("window_end", raw.window_end.is_some()),
        ("date_pointer", raw.date_pointer.is_some()),
        ("compare", raw.compare.is_some()),
        ("next_pointer", raw.next_pointer.is_some()),
        ("offset_param", raw.offset_param.is_some()),
        ("total_pointer", raw.total_pointer.is_some()),
        ("confirm_path", raw.confirm_path.is_some()),
        ("event_prefix", raw.event_prefix.is_some()),
        ("recovery", raw.recovery.is_some()),
    ];
    for (key, _) in keys.iter().filter(|(_, set)| *set) {
        let owner = match *key {
            "recovery" => "consume-once",
            _ => "snapshot",
        };
        let message = format!("only applies with source = \"{owner}\", not \"{source}\"");
        check.report(&path.key(key), message);
    }
}
