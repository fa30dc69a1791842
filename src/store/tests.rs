//! Unit tests of the store's invariants.

mod damage;
mod dead_letters;
mod reopen;
mod retention;

use super::*;
use crate::model::{notification_id, CursorValue, DeadLetter, Notification};
use serde_json::json;

fn item(key: &str, seq: u64) -> ChangeItem {
    ChangeItem {
        key: key.into(),
        version: seq.to_string(),
        cursor: CursorValue(seq.to_string()),
        raw: json!({"id": key, "seq": seq}),
    }
}

async fn commit(
    store: &Store,
    conn: &str,
    items: &[ChangeItem],
) -> Result<Vec<Container>, StoreError> {
    let state = store.connection_state(conn, "0")?;
    let cursor = state.cursor.advanced_by(items, false);
    store
        .commit_page(conn, &state, items, cursor, "t", Utc::now())
        .await
}

/// Forgets `notification`'s container as delivered now, keeping no copy.
fn complete_unretained(store: &Store, notification: &Notification) {
    let delivered = Delivered {
        notification,
        at: Utc::now(),
    };
    store.complete(&[delivered], None).unwrap();
}

/// A store in a fresh directory, with connection `a`'s `items` committed: the directory
/// lives as long as the returned guard.
async fn on_disk(items: &[ChangeItem]) -> (tempfile::TempDir, Store, Vec<Container>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let stored = commit(&store, "a", items).await.unwrap();
    (dir, store, stored)
}

/// Opens the store in `path` again after a drop: sled's background flusher lets go of the
/// directory's lock a moment after it.
async fn reopen(path: &Path) -> Store {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match Store::open(path) {
            Ok(store) => return store,
            Err(_) if std::time::Instant::now() < deadline => {
                actix_rt::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            Err(err) => panic!("the store does not reopen: {err}"),
        }
    }
}

#[actix_rt::test]
async fn commit_assigns_gap_free_sequences_and_moves_the_cursor() {
    let store = Store::temporary().unwrap();
    let first = commit(&store, "a", &[item("x", 1), item("y", 2)])
        .await
        .unwrap();
    let second = commit(&store, "a", &[item("z", 3)]).await.unwrap();
    let seqs: Vec<u64> = first.iter().chain(&second).map(|c| c.sequence).collect();
    assert_eq!(seqs, [1, 2, 3]);
    let state = store.connection_state("a", "0").unwrap();
    assert_eq!(state.cursor.value.as_str(), "3");
    assert_eq!(state.next_sequence, 4);
    // Another connection has its own numbering.
    assert_eq!(
        commit(&store, "b", &[item("x", 9)]).await.unwrap()[0].sequence,
        1
    );
}

#[actix_rt::test]
async fn cursor_does_not_advance_when_the_commit_conflicts() {
    let store = Store::temporary().unwrap();
    let stale = store.connection_state("a", "0").unwrap();
    commit(&store, "a", &[item("x", 1)]).await.unwrap();
    let cursor = stale.cursor.advanced_by(&[item("y", 2)], false);
    let err = store
        .commit_page("a", &stale, &[item("y", 2)], cursor, "t", Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)));
    let state = store.connection_state("a", "0").unwrap();
    assert_eq!(state.cursor.value.as_str(), "1");
    assert_eq!(
        store.pending("a", 0).count(),
        1,
        "the conflicting page wrote no container"
    );
}

#[actix_rt::test]
async fn pending_lists_one_connection_in_sequence_order_until_completed() {
    let store = Store::temporary().unwrap();
    let items: Vec<_> = (1..=300).map(|i| item(&format!("k{i}"), i)).collect();
    commit(&store, "a", &items).await.unwrap();
    commit(&store, "ab", &[item("other", 1)]).await.unwrap();
    let pending: Vec<Container> = store.pending("a", 0).map(Result::unwrap).collect();
    let seqs: Vec<u64> = pending.iter().map(|c| c.sequence).collect();
    assert_eq!(
        seqs,
        (1..=300).collect::<Vec<_>>(),
        "numeric order, not text order; no other connection"
    );
    let first = Notification::build(&pending[0], &serde_json::Map::new(), &[]);
    complete_unretained(&store, &first);
    assert_eq!(store.pending("a", 0).next().unwrap().unwrap().sequence, 2);
    assert_eq!(store.pending("a", 250).count(), 51);
}

#[actix_rt::test]
async fn dead_letter_moves_the_container_out_of_pending() {
    let store = Store::temporary().unwrap();
    let container = commit(&store, "a", &[item("x", 1)])
        .await
        .unwrap()
        .remove(0);
    let letter = DeadLetter {
        notification_id: container.notification_id.clone(),
        connection: "a".into(),
        sequence: container.sequence,
        destination: "d".into(),
        reason: "retry schedule exhausted".into(),
        attempts: vec![],
        dead_at: Utc::now(),
        body: json!({}),
    };
    store.dead_letter(&letter).unwrap();
    assert_eq!(store.pending("a", 0).count(), 0);
    assert_eq!(store.dead_letters().unwrap(), vec![letter]);
}

#[actix_rt::test]
async fn state_survives_reopening_the_directory() {
    let (dir, store, _) = on_disk(&[item("x", 1), item("y", 2)]).await;
    drop(store);
    let store = reopen(dir.path()).await;
    assert_eq!(store.connection_state("a", "0").unwrap().next_sequence, 3);
    assert_eq!(store.pending("a", 0).count(), 2);
}

#[actix_rt::test]
async fn backlog_counts_one_connections_pending_containers_and_reads_the_oldest() {
    let store = Store::temporary().unwrap();
    assert_eq!(store.backlog("a").unwrap(), (0, None));
    let first = commit(&store, "a", &[item("x", 1), item("y", 2)])
        .await
        .unwrap();
    commit(&store, "b", &[item("z", 3)]).await.unwrap();
    let delivered = Notification::build(&first[0], &serde_json::Map::new(), &[]);
    complete_unretained(&store, &delivered);
    let (count, oldest) = store.backlog("a").unwrap();
    assert_eq!((count, oldest), (1, Some(first[1].detected_at)));
    let second = store.container("a", 2).unwrap().expect("still pending");
    assert_eq!(second.key, "y");
    assert!(store.container("a", 1).unwrap().is_none(), "delivered");
}

#[actix_rt::test]
async fn a_fhir_page_commits_its_containers_versions_and_cursor_together_or_not_at_all() {
    use crate::model::{FhirChange, FhirCommit, FhirCursor, Seen, Track};
    let store = Store::temporary().unwrap();
    let state = store.connection_state("h", "0").unwrap();
    let seen = |version: &str| Seen {
        version: version.into(),
        fingerprint: None,
        at: None,
    };
    let commit = FhirCommit {
        type_name: "Appointment".into(),
        track: Track::Search,
        cursor: FhirCursor {
            since: "2026-11-26T04:14:11.323Z".into(),
            past: false,
        },
        changes: vec![FhirChange {
            focus: "Appointment/a1".into(),
            version: "1".into(),
            event_type: "Appointment.new".into(),
            resource: json!({"resourceType": "Appointment", "id": "a1"}),
            changed_elements: vec!["status".into()],
            included: Vec::new(),
        }],
        seen: vec![("a1".into(), seen("1"))],
    };
    let containers = store
        .commit_fhir("h", &state, commit.clone(), Utc::now())
        .await
        .unwrap();
    assert_eq!(containers[0].sequence, 1);
    assert_eq!(containers[0].key, "Appointment/a1");
    assert_eq!(containers[0].fhir.as_ref().unwrap().focus, "Appointment/a1");
    let read = |track| store.fhir_cursor("h", "Appointment", track).unwrap();
    assert_eq!(read(Track::Search), Some(commit.cursor.clone()));
    assert_eq!(read(Track::Deletes), None, "each track has its own cursor");
    assert_eq!(
        store.fhir_seen("h", "Appointment", "a1").unwrap(),
        Some(seen("1"))
    );

    // Read from a state that is no longer the stored one: nothing of it is written.
    let mut stale = commit.clone();
    stale.cursor.since = "2026-11-26T05:00:00.000Z".into();
    stale.seen = vec![("a2".into(), seen("1"))];
    let err = store.commit_fhir("h", &state, stale, Utc::now()).await;
    assert!(matches!(err, Err(StoreError::Conflict(_))), "{err:?}");
    assert_eq!(read(Track::Search), Some(commit.cursor));
    assert_eq!(store.fhir_seen("h", "Appointment", "a2").unwrap(), None);
    assert_eq!(store.pending("h", 0).count(), 1);
}
