//! A record source's records: looked up by key, scanned in byte order one scope at a time,
//! and committed with their containers and cursor in one transaction, or not at all.

use super::*;
use crate::fhir::events::Fingerprint;
use crate::model::{CursorState, RecordChange, RecordCommit, Recorded};

contract!(
    a_lookup_answers_in_the_order_of_the_keys_with_absent_ones_as_none,
    a_scan_pages_in_byte_order_and_never_crosses_into_another_scope_or_connection,
    a_record_commit_numbers_its_containers_and_carries_what_changed,
    a_forgotten_record_is_gone_and_the_cursor_moves_only_when_given,
    a_record_commit_from_a_stale_state_is_a_conflict_and_writes_nothing,
);

/// A record at `revision`, with a fingerprint of `content` and a date.
pub(crate) fn recorded(content: &str, revision: u64) -> Recorded {
    Recorded {
        fingerprint: Some(Fingerprint::of_record(&json!({ "v": content }))),
        revision,
        date: Some(1_764_000_000 + revision as i64),
    }
}

/// The change of record `key` to `version`, as a snapshot source notifies it.
pub(crate) fn change(key: &str, version: &str) -> RecordChange {
    RecordChange {
        key: key.into(),
        version: version.into(),
        event_type: "record.updated".into(),
        change: json!({ "id": key, "v": version }),
        changed_elements: Some(vec!["/status".into()]),
        fhir: None,
        backfill: false,
    }
}

/// Writes `records` into `scope` of connection `conn` as its next page, with no container.
pub(crate) async fn write(store: &Store, conn: &str, scope: &str, records: &[(&str, Recorded)]) {
    let state = store.connection_state(conn, "0").await.unwrap();
    let commit = RecordCommit {
        scope: scope.into(),
        changes: Vec::new(),
        records: records
            .iter()
            .map(|(key, record)| (key.to_string(), Some(record.clone())))
            .collect(),
        cursor: None,
    };
    let containers = store.commit_records(conn, &state, commit, Utc::now());
    assert_eq!(containers.await.unwrap(), Vec::new());
}

/// The keys of a scan page.
fn keys(page: &[(String, Recorded)]) -> Vec<&str> {
    page.iter().map(|(key, _)| key.as_str()).collect()
}

async fn a_lookup_answers_in_the_order_of_the_keys_with_absent_ones_as_none(store: Store) {
    write(
        &store,
        "a",
        "",
        &[("r1", recorded("x", 1)), ("r2", recorded("y", 2))],
    )
    .await;
    write(&store, "a", "Appointment", &[("r3", recorded("z", 1))]).await;

    let asked: Vec<String> = ["r2", "r3", "r1", "r2"].map(String::from).to_vec();
    let found = store.records("a", "", &asked).await.unwrap();

    let expected = [
        Some(recorded("y", 2)),
        None,
        Some(recorded("x", 1)),
        Some(recorded("y", 2)),
    ];
    assert_eq!(found, expected, "r3 is another scope's");
    let elsewhere = store.records("a-b", "", &asked[..1]).await.unwrap();
    assert_eq!(elsewhere, [None], "another connection's");
    assert_eq!(store.records("a", "", &[]).await.unwrap(), []);
}

async fn a_scan_pages_in_byte_order_and_never_crosses_into_another_scope_or_connection(
    store: Store,
) {
    // Byte order: digits before capitals before lower case, "10" before "9", é after "z".
    let stored = ["z", "é", "B", "10", "9", "a", "a\u{1}"];
    let records: Vec<_> = stored.iter().map(|key| (*key, recorded(key, 1))).collect();
    write(&store, "a", "", &records).await;
    // Neighbours in every direction a key prefix could leak into.
    write(&store, "a", "Appointment", &[("0", recorded("n", 1))]).await;
    write(&store, "a-b", "", &[("0", recorded("n", 1))]).await;

    let page = |after, limit| store.scan_records("a", "", after, limit);
    let first = page(None, 3).await.unwrap();
    assert_eq!(keys(&first), ["10", "9", "B"]);
    assert_eq!(first[0].1, recorded("10", 1), "each key with its record");
    let second = page(Some("B"), 3).await.unwrap();
    assert_eq!(keys(&second), ["a", "a\u{1}", "z"]);
    let last = page(Some("z"), 3).await.unwrap();
    assert_eq!(keys(&last), ["é"], "the end: a short page");
    assert_eq!(page(Some("é"), 3).await.unwrap(), []);
    let between = page(Some("A"), 2).await.unwrap();
    assert_eq!(keys(&between), ["B", "a"], "after a key that is not stored");

    let scoped = store.scan_records("a", "Appointment", None, 10).await;
    assert_eq!(keys(&scoped.unwrap()), ["0"]);
    let other = store.scan_records("a-b", "", None, 10).await.unwrap();
    assert_eq!(keys(&other), ["0"]);
    let none = store.scan_records("a-", "", None, 10).await.unwrap();
    assert_eq!(none, [], "a connection that never stored a record");
}

async fn a_record_commit_numbers_its_containers_and_carries_what_changed(store: Store) {
    commit(&store, "s", &[item("earlier", 1)]).await.unwrap();
    let state = store.connection_state("s", "0").await.unwrap();
    let backfilled = RecordChange {
        backfill: true,
        changed_elements: None,
        ..change("r2", "1")
    };
    let commit = RecordCommit {
        scope: "".into(),
        changes: vec![change("r1", "2"), backfilled],
        records: vec![
            ("r1".into(), Some(recorded("x", 2))),
            ("r2".into(), Some(recorded("y", 1))),
        ],
        cursor: None,
    };

    let containers = store
        .commit_records("s", &state, commit, Utc::now())
        .await
        .unwrap();

    let described: Vec<_> = containers
        .iter()
        .map(|c| (c.sequence, c.key.as_str(), c.notification_id.clone()))
        .collect();
    let expected = [
        (2, "r1", notification_id("s", "r1", "2")),
        (3, "r2", notification_id("s", "r2", "1")),
    ];
    assert_eq!(described, expected, "numbered from the next sequence");
    let pending: Vec<Container> = store.pending("s", 2).collect().await.unwrap();
    assert_eq!(pending, containers, "stored as answered");
    assert_eq!(pending[0].changed_elements, Some(vec!["/status".into()]));
    assert_eq!(pending[0].change, json!({"id": "r1", "v": "2"}));
    assert_eq!((pending[0].backfill, pending[1].backfill), (false, true));
    assert_eq!(pending[1].event_type, "record.updated");
    assert_eq!(next_sequence(&store, "s").await, 4);
    let asked = ["r1", "r2"].map(String::from);
    let found = store.records("s", "", &asked).await.unwrap();
    assert_eq!(found, [Some(recorded("x", 2)), Some(recorded("y", 1))]);
}

async fn a_forgotten_record_is_gone_and_the_cursor_moves_only_when_given(store: Store) {
    write(
        &store,
        "s",
        "",
        &[("r1", recorded("x", 1)), ("r2", recorded("y", 1))],
    )
    .await;
    let before = store.connection_state("s", "0").await.unwrap();
    assert_eq!(
        before.cursor.value.as_str(),
        "0",
        "a write without a cursor"
    );
    let moved = CursorState::initial("2026-12-06T10:00:00Z");
    let commit = RecordCommit {
        scope: "".into(),
        changes: vec![change("r1", "removed-2")],
        records: vec![("r1".into(), None)],
        cursor: Some(moved.clone()),
    };
    store
        .commit_records("s", &before, commit, Utc::now())
        .await
        .unwrap();

    let after = store.connection_state("s", "0").await.unwrap();
    assert_eq!((after.cursor, after.next_sequence), (moved.clone(), 2));
    let left = store.scan_records("s", "", None, 10).await.unwrap();
    assert_eq!(keys(&left), ["r2"], "r1 forgotten");
    let asked = ["r1".to_owned()];
    assert_eq!(store.records("s", "", &asked).await.unwrap(), [None]);

    write(&store, "s", "", &[("r3", recorded("z", 1))]).await;
    let kept = store.connection_state("s", "0").await.unwrap();
    assert_eq!(kept.cursor, moved, "no cursor given: it stays");
}

async fn a_record_commit_from_a_stale_state_is_a_conflict_and_writes_nothing(store: Store) {
    let state = store.connection_state("s", "0").await.unwrap();
    let page = |key: &str, records, cursor: &str| RecordCommit {
        scope: "".into(),
        changes: vec![change(key, "1")],
        records,
        cursor: Some(CursorState::initial(cursor)),
    };
    let winner = page("r1", vec![("r1".into(), Some(recorded("x", 1)))], "won");
    store
        .commit_records("s", &state, winner, Utc::now())
        .await
        .unwrap();

    // Another writer's page, read from the same state: it would forget r1 and write r2.
    let forgets = vec![("r1".into(), None), ("r2".into(), Some(recorded("y", 1)))];
    let late = page("r2", forgets, "late");
    let late = store.commit_records("s", &state, late, Utc::now()).await;

    assert!(matches!(late, Err(StoreError::Conflict(_))), "{late:?}");
    let records = store.scan_records("s", "", None, 10).await.unwrap();
    assert_eq!(records, [("r1".into(), recorded("x", 1))], "unchanged");
    let after = store.connection_state("s", "0").await.unwrap();
    assert_eq!(after.cursor.value.as_str(), "won");
    assert_eq!(after.next_sequence, 2);
    assert_eq!(
        store.pending("s", 0).count().await,
        1,
        "no container of the late page"
    );
}
