//! `cursor_from` and the keys that depend on it.

use std::time::Duration;

use super::{errors, parse_ok, valid_with, VALID};
use crate::config::CursorFrom;

/// VALID with the cursor taken from the EHR's clock: no paging, no cursor pointer.
fn date_header(extra: &str) -> String {
    VALID
        .replace("page_size_param = \"limit\"\npage_size = 500\n", "")
        .replace(
            "cursor_pointer = \"/seq\"",
            &format!("cursor_from = \"date_header\"{extra}"),
        )
}

#[test]
fn a_date_header_cursor_loads_with_a_five_second_lag_by_default() {
    let config = parse_ok(&date_header(""));
    let feed = config.connections["clinic-a"].source.changes().unwrap();
    assert_eq!(
        feed.cursor_from,
        CursorFrom::DateHeader {
            lag: Duration::from_secs(5)
        }
    );
    assert_eq!(feed.cursor_pointer, None);
    assert_eq!(feed.page_size, None);
    let config = parse_ok(&date_header("\nlag_secs = 0.5"));
    assert_eq!(
        config.connections["clinic-a"]
            .source
            .changes()
            .unwrap()
            .cursor_from,
        CursorFrom::DateHeader {
            lag: Duration::from_millis(500)
        }
    );
}

#[test]
fn a_date_header_cursor_refuses_paging() {
    let text = valid_with("cursor_pointer = \"/seq\"", "cursor_from = \"date_header\"");
    assert_eq!(
        errors(&text),
        "config/courier.toml:14: connections.clinic-a.page_size: not with cursor_from = \
         \"date_header\": each poll reads its whole window in one request"
    );
}

#[test]
fn a_date_header_cursor_needs_a_version_to_tell_changes_apart() {
    let text = date_header("").replace("version_pointer = \"/ts\"\n", "");
    assert!(
        errors(&text).ends_with(
            "connections.clinic-a.version_pointer: required with cursor_from = \"date_header\" \
             (unless cursor_pointer is set), to tell two changes of a record apart"
        ),
        "{}",
        errors(&text)
    );
}

#[test]
fn an_items_cursor_needs_a_cursor_pointer_and_takes_no_lag() {
    let text = valid_with("cursor_pointer = \"/seq\"", "lag_secs = 5");
    let rendered = errors(&text);
    assert!(
        rendered.contains("connections.clinic-a.cursor_pointer: missing required key (the cursor comes from the items)"),
        "{rendered}"
    );
    assert!(
        rendered.contains(
            "config/courier.toml:17: connections.clinic-a.lag_secs: only applies with cursor_from = \"date_header\""
        ),
        "{rendered}"
    );
}

#[test]
fn an_unknown_cursor_source_is_refused() {
    let text = valid_with(
        "cursor_pointer = \"/seq\"",
        "cursor_pointer = \"/seq\"\ncursor_from = \"clock\"",
    );
    assert_eq!(
        errors(&text),
        "config/courier.toml:18: connections.clinic-a.cursor_from: unknown value \"clock\" \
         (expected \"items\" or \"date_header\")"
    );
}

#[test]
fn the_clock_skew_allowed_is_five_minutes_by_default_and_between_1_second_and_1_day() {
    let skew = |text: &str| {
        let config = parse_ok(text);
        config.connections["clinic-a"]
            .source
            .changes()
            .unwrap()
            .max_clock_skew
    };
    assert_eq!(skew(VALID), Duration::from_secs(300));
    let with = |value: &str| {
        valid_with(
            "cursor_pointer = \"/seq\"",
            &format!("cursor_pointer = \"/seq\"\nmax_clock_skew_secs = {value}"),
        )
    };
    assert_eq!(skew(&with("1")), Duration::from_secs(1));
    assert_eq!(skew(&with("86400")), Duration::from_secs(86_400));
    assert!(
        errors(&with("0.5")).ends_with(
            "connections.clinic-a.max_clock_skew_secs: must be at least 1 seconds (got 0.5)"
        ),
        "{}",
        errors(&with("0.5"))
    );
    assert!(errors(&with("86401")).ends_with("must be at most 86400 seconds, 1 day (got 86401)"));
}
