//! The store's contract, one test body for every backend: each test here runs against the
//! sled store, the in-memory one and the PostgreSQL one ([`contract!`]), so all keep the
//! traits' invariants the same way. Tests of what only the sled backend has (files, re-opens, marks) are in
//! `sled/tests`.

pub(crate) mod dead_letters;
pub(crate) mod records;
pub(crate) mod retention;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::*;
use crate::model::{notification_id, ChangeItem, Container, CursorValue, DeadLetter, Notification};

/// A change item of key `key` at cursor `seq`.
pub(crate) fn item(key: &str, seq: u64) -> ChangeItem {
    ChangeItem {
        key: key.into(),
        version: seq.to_string(),
        cursor: CursorValue(seq.to_string()),
        raw: json!({"id": key, "seq": seq}),
        event_type: "t".into(),
    }
}

/// Commits `items` as connection `conn`'s next page.
pub(crate) async fn commit(
    store: &Store,
    conn: &str,
    items: &[ChangeItem],
) -> Result<Vec<Container>, StoreError> {
    let state = store.connection_state(conn, "0").await?;
    let cursor = state.cursor.advanced_by(items, false);
    store
        .commit_page(conn, &state, items, cursor, Utc::now())
        .await
}

/// The sequence connection `conn`'s next container gets.
pub(crate) async fn next_sequence(store: &Store, conn: &str) -> u64 {
    let state = store.connection_state(conn, "0").await.unwrap();
    state.next_sequence
}

/// Forgets `notification`'s container as delivered now, keeping no copy.
pub(crate) async fn complete_unretained(store: &Store, notification: &Notification) {
    let delivered = Delivered {
        notification,
        at: Utc::now(),
    };
    store.complete(&[delivered], None).await.unwrap();
}

/// Reads every retained notification in `range`, for tests.
pub(crate) async fn read_retained(store: &Store, range: &RetainedRange) -> Vec<Retained> {
    let mut reader = store.read_retained(range);
    let mut all = Vec::new();
    loop {
        let page = reader.next_page(100).await.unwrap();
        if page.is_empty() {
            return all;
        }
        all.extend(page);
    }
}

/// Runs each named test body (an `async fn(Store)` of the calling module) against a
/// temporary sled store (`on_sled::name`), an in-memory store (`in_memory::name`) and a
/// PostgreSQL store without leases over a fresh database (`on_postgres::name`).
macro_rules! contract {
    ($($name:ident),+ $(,)?) => {
        mod on_sled {
            $(
                #[actix_rt::test]
                async fn $name() {
                    super::$name(crate::store::Store::temporary().unwrap()).await;
                }
            )+
        }
        mod in_memory {
            $(
                #[actix_rt::test]
                async fn $name() {
                    super::$name(crate::store::Store::memory()).await;
                }
            )+
        }
        mod on_postgres {
            $(
                #[actix_rt::test]
                async fn $name() {
                    let (_database, store, _) =
                        crate::store::postgres::tests::single_writer(stringify!($name));
                    super::$name(store).await;
                }
            )+
        }
    };
}
pub(crate) use contract;

contract!(
    commit_assigns_gap_free_sequences_and_moves_the_cursor,
    cursor_does_not_advance_when_the_commit_conflicts,
    pending_lists_one_connection_in_sequence_order_until_completed,
    pending_pages_say_where_the_next_one_starts,
    dead_letter_moves_the_container_out_of_pending,
    backlog_counts_one_connections_pending_containers_and_reads_the_oldest,
    backlog_counters_follow_dead_letters_retries_and_repeated_completions,
    a_fhir_page_commits_its_containers_versions_and_cursor_together_or_not_at_all,
);

async fn commit_assigns_gap_free_sequences_and_moves_the_cursor(store: Store) {
    let first = commit(&store, "a", &[item("x", 1), item("y", 2)])
        .await
        .unwrap();
    let second = commit(&store, "a", &[item("z", 3)]).await.unwrap();
    let seqs: Vec<u64> = first.iter().chain(&second).map(|c| c.sequence).collect();
    assert_eq!(seqs, [1, 2, 3]);
    let state = store.connection_state("a", "0").await.unwrap();
    assert_eq!(state.cursor.value.as_str(), "3");
    assert_eq!(state.next_sequence, 4);
    // Another connection has its own numbering.
    assert_eq!(
        commit(&store, "b", &[item("x", 9)]).await.unwrap()[0].sequence,
        1
    );
}

async fn cursor_does_not_advance_when_the_commit_conflicts(store: Store) {
    let stale = store.connection_state("a", "0").await.unwrap();
    commit(&store, "a", &[item("x", 1)]).await.unwrap();
    let cursor = stale.cursor.advanced_by(&[item("y", 2)], false);
    let err = store
        .commit_page("a", &stale, &[item("y", 2)], cursor, Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)));
    let state = store.connection_state("a", "0").await.unwrap();
    assert_eq!(state.cursor.value.as_str(), "1");
    assert_eq!(
        store.pending("a", 0).count().await,
        1,
        "the conflicting page wrote no container"
    );
}

async fn pending_lists_one_connection_in_sequence_order_until_completed(store: Store) {
    let items: Vec<_> = (1..=300).map(|i| item(&format!("k{i}"), i)).collect();
    commit(&store, "a", &items).await.unwrap();
    commit(&store, "ab", &[item("other", 1)]).await.unwrap();
    let pending: Vec<Container> = store.pending("a", 0).collect().await.unwrap();
    let seqs: Vec<u64> = pending.iter().map(|c| c.sequence).collect();
    assert_eq!(
        seqs,
        (1..=300).collect::<Vec<_>>(),
        "numeric order, not text order; no other connection"
    );
    let first = Notification::build(&pending[0], &serde_json::Map::new(), &[]);
    complete_unretained(&store, &first).await;
    assert_eq!(
        store
            .pending("a", 0)
            .next()
            .await
            .unwrap()
            .unwrap()
            .sequence,
        2
    );
    assert_eq!(store.pending("a", 250).count().await, 51);
}

async fn dead_letter_moves_the_container_out_of_pending(store: Store) {
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
    store.dead_letter(&letter).await.unwrap();
    assert_eq!(store.pending("a", 0).count().await, 0);
    assert_eq!(store.dead_letters().await.unwrap(), vec![letter]);
}

async fn backlog_counts_one_connections_pending_containers_and_reads_the_oldest(store: Store) {
    assert_eq!(store.backlog("a").unwrap(), (0, None));
    let first = commit(&store, "a", &[item("x", 1), item("y", 2)])
        .await
        .unwrap();
    commit(&store, "b", &[item("z", 3)]).await.unwrap();
    let delivered = Notification::build(&first[0], &serde_json::Map::new(), &[]);
    complete_unretained(&store, &delivered).await;
    let (count, oldest) = store.backlog("a").unwrap();
    assert_eq!((count, oldest), (1, Some(first[1].detected_at)));
    let second = store
        .container("a", 2)
        .await
        .unwrap()
        .expect("still pending");
    assert_eq!(second.key, "y");
    assert!(
        store.container("a", 1).await.unwrap().is_none(),
        "delivered"
    );
}

async fn a_fhir_page_commits_its_containers_versions_and_cursor_together_or_not_at_all(
    store: Store,
) {
    use crate::model::{FhirChange, FhirCommit, FhirCursor, Seen, Track};
    let state = store.connection_state("h", "0").await.unwrap();
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
    let read = async |track| store.fhir_cursor("h", "Appointment", track).await.unwrap();
    assert_eq!(read(Track::Search).await, Some(commit.cursor.clone()));
    assert_eq!(
        read(Track::Deletes).await,
        None,
        "each track has its own cursor"
    );
    assert_eq!(
        store.fhir_seen("h", "Appointment", "a1").await.unwrap(),
        Some(seen("1"))
    );

    // Read from a state that is no longer the stored one: nothing of it is written.
    let mut stale = commit.clone();
    stale.cursor.since = "2026-11-26T05:00:00.000Z".into();
    stale.seen = vec![("a2".into(), seen("1"))];
    let err = store.commit_fhir("h", &state, stale, Utc::now()).await;
    assert!(matches!(err, Err(StoreError::Conflict(_))), "{err:?}");
    assert_eq!(read(Track::Search).await, Some(commit.cursor));
    assert_eq!(
        store.fhir_seen("h", "Appointment", "a2").await.unwrap(),
        None
    );
    assert_eq!(store.pending("h", 0).count().await, 1);
}

async fn pending_pages_say_where_the_next_one_starts(store: Store) {
    let items: Vec<_> = (1..=5).map(|i| item(&format!("k{i}"), i)).collect();
    commit(&store, "a", &items).await.unwrap();
    let first = store.pending_page("a", 0, 2).await.unwrap();
    let seqs = |page: &PendingPage| -> Vec<u64> {
        page.items
            .iter()
            .map(|c| c.as_ref().unwrap().sequence)
            .collect()
    };
    assert_eq!((seqs(&first), first.next), (vec![1, 2], Some(3)));
    let last = store.pending_page("a", 4, 2).await.unwrap();
    assert_eq!(
        (seqs(&last), last.next),
        (vec![4, 5], None),
        "the end says so"
    );
    let none = store.pending_page("b", 0, 2).await.unwrap();
    assert_eq!((seqs(&none), none.next), (vec![], None));
}

async fn backlog_counters_follow_dead_letters_retries_and_repeated_completions(store: Store) {
    let stored = commit(&store, "a", &[item("x", 1), item("y", 2), item("z", 3)])
        .await
        .unwrap();
    let first = Notification::build(&stored[0], &serde_json::Map::new(), &[]);
    complete_unretained(&store, &first).await;
    complete_unretained(&store, &first).await;
    assert_eq!(
        store.backlog("a").unwrap(),
        (2, Some(stored[1].detected_at))
    );
    let letter = dead_letters::letter(&stored[1], "d");
    store.dead_letter(&letter).await.unwrap();
    assert_eq!(
        store.backlog("a").unwrap(),
        (1, Some(stored[2].detected_at))
    );
    assert_eq!(store.pending_count(), 1);
    let all = DeadLetterSelection::Matching(DeadLetterFilter::default());
    assert_eq!(store.retry_dead_letters(&all).await.unwrap().len(), 1);
    assert_eq!(
        store.backlog("a").unwrap(),
        (2, Some(stored[1].detected_at))
    );
    assert_eq!(store.backlog("b").unwrap(), (0, None));
    assert_eq!(store.pending_count(), 2);
}
