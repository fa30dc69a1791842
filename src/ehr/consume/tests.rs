//! The consume-once reader's state machine, its windows, and how items are read.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::*;
use crate::config::{ConsumeOnceSource, Recovery};
use crate::template::Template;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn recovery() -> Recovery {
    Recovery {
        start_param: "showprocessedstartdatetime".into(),
        end_param: "showprocessedenddatetime".into(),
        time_format: "%m/%d/%Y %H:%M:%S".into(),
        margin: Duration::from_secs(60),
        params: vec![("leaveunprocessed".into(), "true".into())],
        offset_param: None,
    }
}

pub(crate) fn source(recovery: Option<Recovery>) -> ConsumeOnceSource {
    ConsumeOnceSource {
        changes_path: "/appointments/changed-once".into(),
        page_size_param: Some("limit".into()),
        page_size: Some(100),
        items_pointer: String::new(),
        key_pointer: "/id".into(),
        version_pointer: Some("/seq".into()),
        event_type: Template::literal("appointment.updated"),
        recovery,
        enrich: Vec::new(),
    }
}

#[test]
fn a_connection_that_never_committed_anchors_first_then_reads_the_feed() {
    let reader = ConsumeOnceReader::new(source(Some(recovery())));
    let now = at("2030-01-01T08:00:00Z");
    assert_eq!(reader.next_read(None, now), Read::Anchor);
    reader.anchored();
    assert_eq!(reader.next_read(Some(now), now), Read::Feed);
}

#[test]
fn a_new_generation_recovers_from_the_last_commit_minus_the_margin() {
    let reader = ConsumeOnceReader::new(source(Some(recovery())));
    let read = reader.next_read(
        Some(at("2030-01-01T08:00:30.700Z")),
        at("2030-01-01T08:05:10.200Z"),
    );
    let expected = Window {
        start: at("2030-01-01T07:59:30Z"),
        end: at("2030-01-01T08:05:11Z"),
        offset: 0,
    };
    assert_eq!(read, Read::Recover(expected));
    assert_eq!(
        reader.reread(10, false).unwrap(),
        Reread::Commit { last: true }
    );
    reader.window_committed(10, 0);
    assert!(!reader.is_recovering());
    assert_eq!(
        reader.next_read(Some(at("2030-01-01T08:05:11Z")), at("2030-01-01T08:05:12Z")),
        Read::Feed
    );
}

#[test]
fn any_failure_starts_a_recovery_again() {
    let reader = ConsumeOnceReader::new(source(Some(recovery())));
    let (commit, now) = (at("2030-01-01T08:00:00Z"), at("2030-01-01T08:00:05Z"));
    reader.next_read(Some(commit), now);
    reader.reread(10, false).unwrap();
    reader.window_committed(10, 0);
    assert_eq!(reader.next_read(Some(commit), now), Read::Feed);
    reader.failed();
    assert!(reader.is_recovering());
    assert!(matches!(
        reader.next_read(Some(commit), now),
        Read::Recover(_)
    ));
}

#[test]
fn a_failure_mid_recovery_starts_over_from_the_stored_cursor() {
    let reader = ConsumeOnceReader::new(source(Some(recovery())));
    let (commit, now) = (at("2030-01-01T08:00:00Z"), at("2030-01-01T08:00:59Z"));
    let Read::Recover(whole) = reader.next_read(Some(commit), now) else {
        panic!("recovering")
    };
    assert_eq!(reader.reread(100, true).unwrap(), Reread::Split);
    reader.failed();
    assert_eq!(reader.next_read(Some(commit), now), Read::Recover(whole));
}

#[test]
fn without_a_recovery_window_the_reader_goes_straight_to_the_feed() {
    let reader = ConsumeOnceReader::new(source(None));
    let now = at("2030-01-01T08:00:00Z");
    assert_eq!(reader.next_read(Some(now), now), Read::Feed);
    reader.failed();
    assert_eq!(reader.next_read(Some(now), now), Read::Feed);
}

#[test]
fn a_full_reread_is_split_in_halves_read_first_half_first_until_every_part_fits() {
    let reader = ConsumeOnceReader::new(source(Some(recovery())));
    let (commit, now) = (at("2030-01-01T08:01:00Z"), at("2030-01-01T08:01:59.5Z"));
    let Read::Recover(whole) = reader.next_read(Some(commit), now) else {
        panic!("recovering")
    };
    assert_eq!((whole.end - whole.start).num_seconds(), 120);
    assert_eq!(reader.reread(100, true).unwrap(), Reread::Split);
    let Read::Recover(first) = reader.next_read(Some(commit), now) else {
        panic!("still recovering")
    };
    assert_eq!(
        (first.start, first.end),
        (whole.start, at("2030-01-01T08:01:00Z"))
    );
    assert_eq!(
        reader.reread(10, false).unwrap(),
        Reread::Commit { last: false }
    );
    reader.window_committed(10, 0);
    let Read::Recover(second) = reader.next_read(Some(commit), now) else {
        panic!("the second half is left")
    };
    assert_eq!((second.start, second.end), (first.end, whole.end));
    assert_eq!(
        reader.reread(10, false).unwrap(),
        Reread::Commit { last: true }
    );
    let done = reader.window_committed(10, 4);
    let (reads, returned, fresh) = (3, 20, 4);
    assert_eq!(
        done,
        Some(Recovered {
            reads,
            returned,
            fresh
        }),
        "one tally per recovery"
    );
    assert!(!reader.is_recovering());
}

#[test]
fn a_full_reread_of_one_second_cannot_be_split_and_says_what_to_raise() {
    let window = Window {
        start: at("2030-01-01T08:00:00Z"),
        end: at("2030-01-01T08:00:01Z"),
        offset: 0,
    };
    assert_eq!(window.halves(), None);
    let reader = ConsumeOnceReader::new(source(Some(Recovery {
        margin: Duration::ZERO,
        ..recovery()
    })));
    reader.next_read(
        Some(at("2030-01-01T08:00:00Z")),
        at("2030-01-01T08:00:00.5Z"),
    );
    let err = reader.reread(100, true).unwrap_err();
    assert!(err.to_string().contains("raise page_size"), "{err}");
}

#[test]
fn a_full_reread_of_one_second_is_paged_by_offset_when_the_ehr_can_page() {
    let reader = ConsumeOnceReader::new(source(Some(Recovery {
        margin: Duration::ZERO,
        offset_param: Some("offset".into()),
        ..recovery()
    })));
    let (commit, now) = (at("2030-01-01T08:00:00Z"), at("2030-01-01T08:00:00.5Z"));
    let Read::Recover(window) = reader.next_read(Some(commit), now) else {
        panic!("recovering")
    };
    assert!(!window.query(&recovery()).iter().any(|(k, _)| k == "offset"));
    assert_eq!(
        reader.reread(100, true).unwrap(),
        Reread::Commit { last: false }
    );
    reader.window_committed(10, 0);
    let Read::Recover(paged) = reader.next_read(Some(commit), now) else {
        panic!("the next page is left")
    };
    assert_eq!(
        (paged.start, paged.end, paged.offset),
        (window.start, window.end, 100)
    );
    let with_offset = Recovery {
        offset_param: Some("offset".into()),
        ..recovery()
    };
    assert!(paged
        .query(&with_offset)
        .contains(&("offset".into(), "100".into())));
    assert_eq!(
        reader.reread(30, false).unwrap(),
        Reread::Commit { last: true }
    );
    reader.window_committed(10, 0);
    assert!(!reader.is_recovering());
}

#[test]
fn halves_share_their_middle_second_and_cover_the_window() {
    let window = Window {
        start: at("2030-01-01T08:00:00Z"),
        end: at("2030-01-01T08:00:03Z"),
        offset: 0,
    };
    let (a, b) = window.halves().unwrap();
    assert_eq!(
        (a.start, a.end, b.start, b.end),
        (
            window.start,
            at("2030-01-01T08:00:01Z"),
            at("2030-01-01T08:00:01Z"),
            window.end
        )
    );
}

#[test]
fn a_window_query_writes_its_bounds_in_the_time_format_then_the_fixed_params() {
    let window = Window {
        start: at("2030-01-02T07:59:30Z"),
        end: at("2030-01-02T08:05:11Z"),
        offset: 0,
    };
    assert_eq!(
        window.query(&recovery()),
        vec![
            (
                "showprocessedstartdatetime".into(),
                "01/02/2030 07:59:30".into()
            ),
            (
                "showprocessedenddatetime".into(),
                "01/02/2030 08:05:11".into()
            ),
            ("leaveunprocessed".into(), "true".into()),
        ]
    );
}

#[test]
fn items_are_read_by_pointer_and_versioned_by_the_version_pointer_or_a_hash() {
    let body = json!([{"id": "appt-1", "seq": 7, "b": 1, "a": 2}]);
    let items = parse_items(&source(None), "/f", &body).unwrap();
    assert_eq!(
        (items[0].key.as_str(), items[0].version.as_str()),
        ("appt-1", "7")
    );
    let hashed = ConsumeOnceSource {
        version_pointer: None,
        ..source(None)
    };
    let reordered = json!([{"a": 2, "seq": 7, "id": "appt-1", "b": 1}]);
    let one = parse_items(&hashed, "/f", &body).unwrap();
    let two = parse_items(&hashed, "/f", &reordered).unwrap();
    assert_eq!(one[0].version.len(), 16);
    assert_eq!(
        one[0].version, two[0].version,
        "canonical: key order does not matter"
    );
    let changed = parse_items(&hashed, "/f", &json!([{"id": "appt-1", "seq": 8}])).unwrap();
    assert_ne!(one[0].version, changed[0].version);
}

#[test]
fn an_item_without_its_key_refuses_the_answer() {
    let err = parse_items(&source(None), "/f", &json!([{"seq": 1}])).unwrap_err();
    assert!(
        err.to_string()
            .contains("item 0: no string or number at key_pointer"),
        "{err}"
    );
}

#[test]
fn each_item_gets_its_event_type_and_an_item_without_what_it_needs_refuses_the_answer() {
    let typed = ConsumeOnceSource {
        event_type: Template::parse("appointment.{/action}").unwrap(),
        ..source(None)
    };
    let body = json!([
        {"id": "appt-1", "seq": 1, "action": "created"},
        {"id": "appt-2", "seq": 2, "action": "cancelled"},
    ]);
    let items = parse_items(&typed, "/f", &body).unwrap();
    let types: Vec<&str> = items.iter().map(|i| i.event_type.as_str()).collect();
    assert_eq!(types, ["appointment.created", "appointment.cancelled"]);
    let untyped =
        json!([{"id": "appt-1", "seq": 1, "action": "created"}, {"id": "appt-2", "seq": 2}]);
    let err = parse_items(&typed, "/f", &untyped).unwrap_err().to_string();
    assert!(
        err.contains("item 1: key appt-2: ") && err.contains("needed by event_type"),
        "{err}"
    );
}

#[test]
fn a_dedupe_key_is_eight_bytes_of_hex_and_differs_by_version() {
    let key = record_key("appt-1", "7");
    assert_eq!(key.len(), 16);
    assert!(key.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_ne!(key, record_key("appt-1", "8"));
}
