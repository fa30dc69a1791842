use serde_json::json;

use super::*;

const POINTERS: [&str; 2] = ["/status", "/start"];
const WINDOW: (i64, i64) = (1_000, 2_000);

fn events() -> PrefixEvents<'static> {
    PrefixEvents {
        prefix: "appointment",
    }
}

fn listed(key: &str, status: &str, date: i64) -> Listed {
    let record = json!({"id": key, "status": status, "start": date, "viewed": "noise"});
    let pointers: Vec<String> = POINTERS.iter().map(|p| (*p).to_owned()).collect();
    Listed {
        key: key.into(),
        date,
        fingerprint: Fingerprint::of_pointers(&record, &pointers),
        record,
    }
}

/// Diffs `page` against `store` (as a backend would answer), and writes the result back.
fn listing(
    store: &mut HashMap<String, Recorded>,
    page: Vec<Listed>,
    phase: Phase,
) -> (PageDiff, ListedKeys) {
    let mut keys = ListedKeys::default();
    let before = page.iter().map(|l| store.get(&l.key).cloned()).collect();
    let diff = diff_page(page, before, &mut keys, phase, &events());
    for (key, record) in &diff.records {
        store.insert(key.clone(), record.clone().unwrap());
    }
    (diff, keys)
}

fn types(diff: &PageDiff) -> Vec<(&str, &str)> {
    diff.changes
        .iter()
        .map(|c| (c.key.as_str(), c.event_type.as_str()))
        .collect()
}

#[test]
fn a_baseline_records_everything_and_notifies_nothing() {
    let mut store = HashMap::new();
    let page = vec![listed("a", "booked", 1_500), listed("b", "booked", 1_600)];
    let (diff, keys) = listing(&mut store, page, Phase::Baseline);
    assert!(diff.changes.is_empty());
    assert_eq!((diff.records.len(), keys.len()), (2, 2));
    assert_eq!(store["a"].revision, 0);
}

#[test]
fn new_changed_and_unchanged_records_each_get_their_event() {
    let mut store = HashMap::new();
    listing(
        &mut store,
        vec![listed("a", "booked", 1_500)],
        Phase::Baseline,
    );
    let page = vec![
        listed("a", "cancelled", 1_500),
        listed("b", "booked", 1_600),
    ];
    let (diff, _) = listing(&mut store, page, Phase::Steady);
    assert_eq!(
        types(&diff),
        [("a", "appointment.updated"), ("b", "appointment.created")]
    );
    assert_eq!(
        diff.changes[0].changed_elements,
        Some(vec!["/status".into()])
    );
    assert_eq!(
        diff.changes[0].version,
        version(1, store["a"].fingerprint.as_ref().unwrap().content_hash())
    );
    let (again, _) = listing(
        &mut store,
        vec![listed("a", "cancelled", 1_500)],
        Phase::Steady,
    );
    assert!(
        again.changes.is_empty(),
        "the same content twice is one change"
    );
    assert_eq!(again.unchanged, 1);
}

#[test]
fn fields_outside_the_compared_pointers_make_no_noise() {
    let mut store = HashMap::new();
    listing(
        &mut store,
        vec![listed("a", "booked", 1_500)],
        Phase::Steady,
    );
    let mut noisy = listed("a", "booked", 1_500);
    noisy.record["viewed"] = json!("a minute later");
    let (diff, _) = listing(&mut store, vec![noisy], Phase::Steady);
    assert!(diff.changes.is_empty());
}

#[test]
fn a_first_listing_that_notifies_marks_its_records_as_backfill() {
    let mut store = HashMap::new();
    let (diff, _) = listing(
        &mut store,
        vec![listed("a", "booked", 1_500)],
        Phase::Backfill,
    );
    assert_eq!(types(&diff), [("a", "appointment.created")]);
    assert!(diff.changes[0].backfill);
}

#[test]
fn a_record_back_to_an_earlier_content_gets_a_new_version() {
    let mut store = HashMap::new();
    let mut versions = Vec::new();
    for status in ["booked", "cancelled", "booked"] {
        let (diff, _) = listing(&mut store, vec![listed("a", status, 1_500)], Phase::Steady);
        versions.push(diff.changes[0].version.clone());
    }
    assert_ne!(versions[0], versions[2]);
}

#[test]
fn a_key_listed_twice_counts_as_a_duplicate_and_compares_with_its_first_listing() {
    let mut store = HashMap::new();
    let page = vec![
        listed("a", "booked", 1_500),
        listed("a", "booked", 1_500),
        listed("a", "cancelled", 1_500),
    ];
    let (diff, _) = listing(&mut store, page, Phase::Steady);
    assert_eq!(diff.duplicates, 2);
    assert_eq!(
        types(&diff),
        [("a", "appointment.created"), ("a", "appointment.updated")]
    );
    assert_eq!(diff.records.len(), 1);
    assert_eq!(store["a"].revision, 2);
}

#[test]
fn the_sweep_removes_what_is_inside_the_window_and_forgets_what_left_it() {
    let live = |date| Recorded {
        fingerprint: Some(listed("x", "booked", date).fingerprint),
        revision: 1,
        date: Some(date),
    };
    let tombstone = |date| Recorded {
        fingerprint: None,
        revision: 2,
        date: Some(date),
    };
    let mut keys = ListedKeys::default();
    keys.insert("listed");
    let scanned = vec![
        (super::super::MARKER_KEY.to_owned(), tombstone(1_500)),
        ("listed".to_owned(), live(1_500)),
        ("gone".to_owned(), live(1_500)),
        ("past".to_owned(), live(999)),
        ("edge".to_owned(), live(2_000)),
        ("dead".to_owned(), tombstone(1_500)),
        ("dead-past".to_owned(), tombstone(10)),
    ];
    let swept = sweep(scanned, &keys, WINDOW);
    assert_eq!(
        swept,
        [
            Unlisted::Removed("gone".into(), live(1_500)),
            Unlisted::Forget("past".into()),
            Unlisted::Forget("edge".into()),
            Unlisted::Forget("dead-past".into()),
        ]
    );
}

#[test]
fn a_removal_is_removed_unread_deleted_when_gone_and_compared_when_present() {
    let stored = Recorded {
        fingerprint: Some(listed("a", "booked", 1_500).fingerprint),
        revision: 3,
        date: Some(1_500),
    };
    let remove = |confirmed| removal("a".into(), stored.clone(), confirmed, WINDOW, &events());
    let (change, record) = remove(Confirmed::Unread);
    let change = change.unwrap();
    assert_eq!(
        (change.event_type.as_str(), change.version.as_str()),
        ("appointment.removed", "4-0000000000000000")
    );
    assert_eq!(change.change, Value::Null);
    assert_eq!(record.unwrap().fingerprint, None, "a tombstone");
    let (change, _) = remove(Confirmed::Gone);
    assert_eq!(change.unwrap().event_type, "appointment.deleted");
    let (change, record) = remove(Confirmed::Present(listed("a", "booked", 5_000)));
    assert_eq!(change.unwrap().event_type, "appointment.updated");
    assert_eq!(record, None, "moved out of the window: forgotten");
    let (change, record) = remove(Confirmed::Present(listed("a", "booked", 1_500)));
    assert_eq!((change, record.map(|r| r.revision)), (None, Some(3)));
}

#[test]
fn a_tombstone_listed_again_is_created_under_a_new_revision() {
    let mut store = HashMap::new();
    let (first, _) = listing(
        &mut store,
        vec![listed("a", "booked", 1_500)],
        Phase::Steady,
    );
    let (_, tombstone) = removal(
        "a".into(),
        store["a"].clone(),
        Confirmed::Unread,
        WINDOW,
        &events(),
    );
    store.insert("a".into(), tombstone.unwrap());
    let (back, _) = listing(
        &mut store,
        vec![listed("a", "booked", 1_500)],
        Phase::Steady,
    );
    assert_eq!(types(&back), [("a", "appointment.created")]);
    assert_ne!(back.changes[0].version, first.changes[0].version);
    assert_eq!(store["a"].revision, 3);
}
