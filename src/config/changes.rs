//! Semantic checks of the keys only a `source = "changes"` connection has: how its feed is
//! requested and read. Where its cursor comes from is checked in `cursor`.

use std::time::Duration;

use super::locate::KeyPath;
use super::raw::RawConnection;
use super::validate::{pointer_problem, Checker};
use super::{ChangesSource, CursorFrom, EnrichStep, Initial};
use crate::template::{Placeholder, Template};

/// Query parameter carrying the cursor, unless configured.
pub(super) const DEFAULT_SINCE_PARAM: &str = "since";
/// Cursor of a brand-new connection, unless configured.
pub(super) const DEFAULT_INITIAL_CURSOR: &str = "0";
/// The poll loop may widen a page up to 16 times this when items share a cursor position,
/// and every item of a page is held in memory at once.
const PAGE_SIZE_AT_MOST: u32 = 100_000;

/// Checks how the changes feed is requested and read; returns the page size (`None` when
/// the feed does not page) and the event type, or `None` once a problem was reported.
pub(super) fn feed(
    check: &mut Checker<'_>,
    path: &KeyPath,
    raw: &RawConnection,
) -> Option<(Option<usize>, Template)> {
    let required = [
        ("changes_path", raw.changes_path.is_some()),
        ("key_pointer", raw.key_pointer.is_some()),
        ("event_type", raw.event_type.is_some()),
    ];
    check.required(path, &required);
    let (Some(changes_path), Some(key_pointer), Some(event_type)) =
        (&raw.changes_path, &raw.key_pointer, &raw.event_type)
    else {
        return None;
    };
    if !changes_path.starts_with('/') {
        check.report(
            &path.key("changes_path"),
            "must start with \"/\" (it is appended to base_url)",
        );
    }
    if let Some(param) = &raw.since_param {
        check.non_empty(&path.key("since_param"), param);
    }
    let page_size = match (&raw.page_size_param, raw.page_size) {
        (Some(param), Some(size)) => {
            check.non_empty(&path.key("page_size_param"), param);
            check
                .count(&path.key("page_size"), Some(size), 1, PAGE_SIZE_AT_MOST)
                .map(Some)
        }
        (Some(_), None) => {
            let message = "page_size_param requires page_size";
            check.report(&path.key("page_size_param"), message);
            None
        }
        (None, Some(_)) => {
            let message =
                "page_size requires page_size_param (the query parameter that carries it)";
            check.report(&path.key("page_size"), message);
            None
        }
        (None, None) => Some(None),
    };
    let pointers = [
        ("items_pointer", raw.items_pointer.as_deref()),
        ("key_pointer", Some(key_pointer.as_str())),
        ("version_pointer", raw.version_pointer.as_deref()),
        ("cursor_pointer", raw.cursor_pointer.as_deref()),
    ];
    for (key, pointer) in pointers {
        if let Some(pointer) = pointer {
            check.pointer(&path.key(key), pointer);
        }
    }
    let event_type = event_type_template(check, &path.key("event_type"), event_type);
    page_size.zip(event_type)
}

/// Checks `event_type` (of a changes or a consume-once feed): a name (`appointment.updated`),
/// or a template whose `{/pointer}` placeholders are filled from each change item
/// (`appointment.{/action}`), for a feed that says what happened. Only the change item is there to fill it from: the type is given when
/// the poll commits the change, before any enrichment.
pub(super) fn event_type_template(
    check: &mut Checker<'_>,
    path: &KeyPath,
    text: &str,
) -> Option<Template> {
    if text.trim().is_empty() {
        check.non_empty(path, text);
        return None;
    }
    let template = match Template::parse(text) {
        Ok(template) => template,
        Err(e) => {
            check.report(path, format!("not a valid template: {e}"));
            return None;
        }
    };
    let mut valid = true;
    for placeholder in template.placeholders() {
        let problem = match placeholder {
            Placeholder::Change(pointer) => {
                pointer_problem(pointer).map(|problem| format!("is not a JSON pointer: {problem}"))
            }
            Placeholder::Resource { .. } => Some(
                "names an enrichment result, which is fetched after the type is given \
                 (only {/pointer} into the change item)"
                    .to_owned(),
            ),
        };
        if let Some(problem) = problem {
            check.report(path, format!("placeholder {placeholder} {problem}"));
            valid = false;
        }
    }
    valid.then_some(template)
}

/// What the checks of a changes feed's own keys found: the part of its settings that is more
/// than the keys as written.
pub(super) struct CheckedFeed {
    /// Items per page; `None` when the feed does not page.
    pub page_size: Option<usize>,
    /// `event_type`, parsed: a name, or a template filled from each change item.
    pub event_type: Template,
    /// Where the cursor comes from.
    pub cursor_from: CursorFrom,
    /// What the first poll does with the backlog.
    pub initial: Initial,
}

impl CheckedFeed {
    /// The feed's settings, once every key of the connection passed its checks: these checked
    /// parts, and the feed keys taken out of `raw`, as written or at their defaults.
    pub(super) fn source(
        self,
        raw: &mut RawConnection,
        enrich: Vec<EnrichStep>,
        max_clock_skew: Duration,
    ) -> ChangesSource {
        ChangesSource {
            changes_path: raw.changes_path.take().unwrap_or_default(),
            since_param: (raw.since_param.take()).unwrap_or_else(|| DEFAULT_SINCE_PARAM.into()),
            initial_cursor: (raw.initial_cursor.take())
                .unwrap_or_else(|| DEFAULT_INITIAL_CURSOR.into()),
            page_size_param: raw.page_size_param.take(),
            page_size: self.page_size,
            items_pointer: raw.items_pointer.take().unwrap_or_default(),
            key_pointer: raw.key_pointer.take().unwrap_or_default(),
            version_pointer: raw.version_pointer.take(),
            cursor_pointer: raw.cursor_pointer.take(),
            cursor_from: self.cursor_from,
            max_clock_skew,
            event_type: self.event_type,
            enrich,
            initial: self.initial,
        }
    }
}
