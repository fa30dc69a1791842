//! Arbitrary bytes as a FHIR server's answer: read as a searchset or history Bundle, then
//! every entry as a search match and as a deletion, each match fingerprinted and classified
//! as Courier's FHIR poller does. Asserts what the poller relies on: nothing panics; a match's
//! `Type/id` focus names it again; a match has a version and its instant is the text it came from; a deletion's
//! id is one path segment; a fingerprint survives the store's JSON and has the same content
//! as itself; and an `OperationOutcome`'s diagnostics (which may quote a patient) never reach
//! the error.
//!
//! The first byte picks the Bundle kind (bit 0: history) and the searched type (bits 1-2);
//! the rest is the JSON body. Every `diagnostics` in it is replaced by [`MARKER`] first.
#![no_main]

use courier::ehr::fhir::fuzzing::{self as bundle, BundleKind};
use courier::fhir::events::{classify, Fingerprint};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// What every `diagnostics` is replaced with; no fixed text of an error contains it.
const MARKER: &str = "\u{1}PHI\u{1}";
const TYPES: [&str; 4] = ["Appointment", "Patient", "Encounter", "Observation"];
const PATH: &str = "/fuzz";

/// Replaces every `diagnostics` member anywhere in `value` with [`MARKER`].
fn mark_diagnostics(value: &mut Value) {
    match value {
        Value::Object(members) => {
            for (name, member) in members.iter_mut() {
                if name == "diagnostics" {
                    *member = Value::String(MARKER.to_owned());
                } else {
                    mark_diagnostics(member);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mark_diagnostics),
        _ => {}
    }
}

/// How often the marker may appear in an error: as often as the texts an error may quote
/// (severities, codes and other members the input wrote, never a `diagnostics`) hold it.
fn quotable_markers(value: &Value, under_diagnostics: bool) -> usize {
    match value {
        Value::Object(members) => members
            .iter()
            .map(|(name, v)| name.matches(MARKER).count() + quotable_markers(v, name == "diagnostics"))
            .sum(),
        Value::Array(items) => items.iter().map(|v| quotable_markers(v, false)).sum(),
        Value::String(text) if !under_diagnostics => text.matches(MARKER).count(),
        _ => 0,
    }
}

fn check_fingerprint(type_name: &str, resource: &Value) {
    let current = Fingerprint::of(resource);
    assert!(current.same_content(&current));
    let stored = serde_json::to_vec(&current).expect("a fingerprint serializes");
    let back: Fingerprint = serde_json::from_slice(&stored).expect("and reads back");
    assert_eq!(back, current, "a fingerprint survives the store");
    let first = classify(type_name, None, Some(&current));
    assert!(first.event_type.starts_with(&format!("{type_name}.")));
    let again = classify(type_name, Some(&current), Some(&current));
    assert!(again.changed_elements.is_empty(), "{again:?}");
    let deleted = classify(type_name, Some(&current), None);
    assert_eq!(deleted.event_type, format!("{type_name}.deleted"));
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, json)) = data.split_first() else {
        return;
    };
    let Ok(mut body) = serde_json::from_slice::<Value>(json) else {
        return;
    };
    mark_diagnostics(&mut body);
    let kind = if flags & 1 == 0 {
        BundleKind::Searchset
    } else {
        BundleKind::History
    };
    let type_name = TYPES[usize::from(flags >> 1) % TYPES.len()];
    let page = match bundle::parse(PATH, body.clone(), kind) {
        Ok(page) => page,
        Err(error) => {
            let text = error.to_string();
            assert!(
                text.matches(MARKER).count() <= quotable_markers(&body, false),
                "diagnostics reached the error: {text:?}"
            );
            return;
        }
    };
    for resource in &page.included {
        check_fingerprint(type_name, resource);
    }
    for entry in &page.entries {
        if let Ok(found) = bundle::found(PATH, entry.clone(), type_name) {
            let focus = format!("{type_name}/{}", found.id);
            assert_eq!(
                bundle::reference_id(&focus, type_name).as_deref(),
                Some(found.id.as_str()),
                "the focus {focus:?} does not name its resource"
            );
            assert!(!found.version.is_empty(), "a match without a version");
            let at = chrono::DateTime::parse_from_rfc3339(&found.at_text).expect("parsed before");
            assert_eq!(at, found.at);
            check_fingerprint(type_name, &found.resource);
        }
        if let Ok(Some(deletion)) = bundle::deletion(PATH, entry, type_name) {
            assert!(!deletion.id.is_empty());
            assert!(
                !deletion.id.contains(['/', '?', '#']),
                "a deleted id of several segments: {:?}",
                deletion.id
            );
            assert!(!deletion.version.is_empty(), "a deletion without a version");
        }
        for url in [&entry["fullUrl"], &entry["request"]["url"]] {
            if let Some(id) = url.as_str().and_then(|u| bundle::reference_id(u, type_name)) {
                assert!(!id.is_empty() && !id.contains(['/', '?', '#']), "{id:?}");
            }
        }
    }
});
