//! Arbitrary bytes as a changes-feed answer: parsed into items with a fixed connection, then
//! sorted and taken by the cursor state. Asserts the feed rules of `model::cursor_state`:
//! the cursor never moves backwards, fresh items come from the page and were not taken
//! before, a re-read of the same page brings nothing fresh, and nothing panics.
//!
//! The first byte picks the connection's shape and whether the page was full; the rest is
//! the JSON body. `since` (the cursor read from) is the body's `/since` when it is a string
//! or number, else `"0"`; already-taken identities come from `/taken` (pairs of
//! `[identity-position]`), so states the feed could have left behind are explored too.
#![no_main]

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::time::Duration;

use courier::config::{ConnectionConfig, CursorFrom, EnrichStep, SourceKind};
use courier::ehr::feed::{ensure_ascending, parse_page};
use courier::template::Template;
use courier::model::{CursorState, CursorValue};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fn connection(shape: u8) -> ConnectionConfig {
    ConnectionConfig {
        id: "fuzz".into(),
        destination: "app".into(),
        source: SourceKind::Changes,
        base_url: "http://127.0.0.1:9/api".parse().unwrap(),
        interval: Duration::from_secs(60),
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(5),
        body_timeout: Duration::from_secs(5),
        backoff_min: Duration::from_millis(10),
        backoff_max: Duration::from_millis(100),
        max_response_bytes: 1 << 20,
        fhir: None,
        changes_path: "/changes".into(),
        since_param: "since".into(),
        initial_cursor: "0".into(),
        page_size_param: Some("limit".into()),
        page_size: Some(4),
        items_pointer: if shape & 1 == 0 {
            String::new()
        } else {
            "/items".into()
        },
        key_pointer: "/id".into(),
        version_pointer: (shape & 2 == 0).then(|| "/ts".into()),
        cursor_pointer: (shape & 4 == 0).then(|| "/seq".into()),
        cursor_from: if shape & 4 == 0 {
            CursorFrom::Items
        } else {
            CursorFrom::DateHeader {
                lag: Duration::from_secs(5),
            }
        },
        max_clock_skew: Duration::from_secs(300),
        event_type: "fuzz.changed".into(),
        enrich: vec![
            EnrichStep {
                name: "appointment".into(),
                path: Template::parse("/appointments/{/id}").unwrap(),
                optional: false,
            },
            EnrichStep {
                name: "patient".into(),
                path: Template::parse("/patients/{/patientId}").unwrap(),
                optional: shape & 8 != 0,
            },
        ],
        max_concurrent_enrichments: 8,
        auth: None,
        max_requests_per_sec: None,
        max_concurrent_requests: None,
        tls: courier::tls::ClientTls::webpki_roots(),
        heartbeat: None,
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
    let config = connection(flags);
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
