//! Arbitrary bytes as a changes-feed answer: parsed into items with a fixed feed, then
//! sorted and taken by the cursor state. Asserts the feed rules of `model::cursor_state`:
//! the cursor never moves backwards, fresh items come from the page and were not taken
//! before, a re-read of the same page brings nothing fresh, and nothing panics.
//!
//! The first byte picks the feed's shape and whether the page was full; the rest is
//! the JSON body. `since` (the cursor read from) is the body's `/since` when it is a string
//! or number, else `"0"`; already-taken identities come from `/taken` (pairs of
//! `[identity-position]`), so states the feed could have left behind are explored too.
#![no_main]

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::time::Duration;

use courier::config::{ChangesSource, CursorFrom, EnrichStep};
use courier::ehr::feed::{ensure_ascending, parse_page};
use courier::template::Template;
use courier::model::{CursorState, CursorValue};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// The feed of the shape `shape` picks: items at the root or under `/items`, with or without
/// a version, positions from the items or the `Date` header, the second step optional or not.
fn feed(shape: u8) -> ChangesSource {
    let step = |name: &str, path: &str, optional: bool| EnrichStep {
        name: name.into(),
        path: Template::parse(path).unwrap(),
        optional,
    };
    ChangesSource {
        page_size_param: Some("limit".into()),
        page_size: Some(4),
        items_pointer: if shape & 1 == 0 {
            String::new()
        } else {
            "/items".into()
        },
        version_pointer: (shape & 2 == 0).then(|| "/ts".into()),
        cursor_pointer: (shape & 4 == 0).then(|| "/seq".into()),
        cursor_from: if shape & 4 == 0 {
            CursorFrom::Items
        } else {
            CursorFrom::DateHeader {
                lag: Duration::from_secs(5),
            }
        },
        enrich: vec![
            step("appointment", "/appointments/{/id}", false),
            step("patient", "/patients/{/patientId}", shape & 8 != 0),
        ],
        ..ChangesSource::new("/changes", "/id", "/seq", "fuzz.changed")
    }
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, json)) = data.split_first() else {
        return;
    };
    let Ok(body) = serde_json::from_slice::<Value>(json) else {
        return;
    };
    let config = feed(flags);
    let full = flags & 16 != 0;
    let since = body
        .pointer("/since")
        .and_then(scalar)
        .unwrap_or_else(|| "0".into());
    let mut state = CursorState::initial(&since);
    if let Some(taken) = body.pointer("/taken").and_then(Value::as_array) {
        for pair in taken.iter().filter_map(Value::as_array) {
            if let [identity, position] = pair.as_slice() {
                if let (Some(identity), Some(position)) = (scalar(identity), scalar(position)) {
                    state.taken.insert(identity, CursorValue(position));
                }
            }
        }
    }
    let Ok(page) = parse_page(&config, "/changes", &body, &state.value) else {
        return;
    };
    let _ = ensure_ascending(&page, "/changes");

    let sorted = state.sort(page.clone());
    let fresh_ids: BTreeSet<String> = sorted.fresh.iter().map(|item| item.identity()).collect();
    assert_eq!(
        fresh_ids.len(),
        sorted.fresh.len(),
        "an identity is fresh once"
    );
    assert!(sorted.fresh.len() + sorted.behind <= page.len());
    for item in &sorted.fresh {
        assert!(page.contains(item), "a fresh item comes from the page");
        assert!(
            !state.taken.contains_key(&item.identity()),
            "taken before: {}",
            item.key
        );
        assert_ne!(
            item.cursor.compare(&state.value),
            Ordering::Less,
            "behind: {}",
            item.key
        );
    }

    for taken_page in [&page[..], &sorted.fresh[..]] {
        let next = state.advanced_by(taken_page, full);
        assert_ne!(
            next.value.compare(&state.value),
            Ordering::Less,
            "the cursor moved backwards from {} to {}",
            state.value,
            next.value
        );
        if !full {
            for item in taken_page {
                assert_ne!(
                    item.cursor.compare(&next.value),
                    Ordering::Greater,
                    "after a page that was not full the cursor {} is behind item {}",
                    next.value,
                    item.cursor
                );
            }
        }
        // What was taken is never fresh again.
        let again = next.sort(taken_page.to_vec());
        assert!(again.fresh.is_empty(), "re-read brought {:?}", again.fresh);
        // And a second advance by the same page stays put or moves forward.
        let twice = next.advanced_by(taken_page, full);
        assert_ne!(twice.value.compare(&next.value), Ordering::Less);
    }

    let window = state.after_window(&page, CursorValue::from("2026-01-01T00:00:00Z"));
    assert_ne!(window.value.compare(&state.value), Ordering::Less);
    assert!(window.sort(page).fresh.is_empty());
});
