//! The copy against a real PostgreSQL: a sled store filled through the store's traits is
//! copied into a fresh database, and every row read back is what sled holds; a target that
//! holds state, a directory without a store and a store still open are refused.

mod read_back;
mod snapshot;

use std::sync::Arc;

use chrono::{Duration, Utc};
use serde_json::json;

use self::snapshot::{fresh_database, target, Snapshot};
use super::*;
use crate::model::{ChangeItem, Container, DeadLetter, Notification};
use crate::model::{CursorState, RecordCommit};
use crate::model::{FhirChange, FhirCommit, FhirCursor, Seen, Track};
use crate::store::contract::records::{change as record_change, recorded};
use crate::store::contract::retention::complete_retained;
use crate::store::contract::{commit, item};
use crate::store::Store;

/// What [`fill`] left in the store, for the checks that name values.
struct Filled {
    /// The dead-lettered container's notification id.
    dead_id: String,
    /// The ids delivered and retained, in delivery order per destination.
    retained_ids: Vec<String>,
}

/// Fills `store` the way a running instance does: pages committed on two connections, some
/// delivered with retention (two destinations), one dead-lettered, a FHIR page with its
/// cursor and versions seen, and record pages in two scopes.
async fn fill(store: &Store) -> Filled {
    let items = |keys: &[&str]| -> Vec<ChangeItem> {
        keys.iter()
            .zip(1..)
            .map(|(key, seq)| item(key, seq))
            .collect()
    };
    let first = commit(store, "clinic-a", &items(&["a1", "a2", "a3"]))
        .await
        .unwrap();
    commit(store, "clinic-a", &items(&["a4", "a5"]))
        .await
        .unwrap();
    let other = commit(store, "clinic-b", &items(&["b1", "b2"]))
        .await
        .unwrap();
    let t0 = Utc::now() - Duration::minutes(10);
    let mut retained_ids = Vec::new();
    for (container, destination, at) in [
        (&first[0], "app", t0),
        (&first[1], "app", t0 + Duration::seconds(1)),
        (&other[0], "audit", t0 + Duration::seconds(2)),
    ] {
        let notification = Notification::build(container, &serde_json::Map::new(), &[]);
        complete_retained(store, &notification, destination, at).await;
        retained_ids.push(notification.id);
    }
    let dead = &first[2];
    store.dead_letter(&letter(dead)).await.unwrap();
    commit_fhir_page(store).await;
    commit_record_pages(store).await;
    Filled {
        dead_id: dead.notification_id.clone(),
        retained_ids,
    }
}

/// The dead letter of `container`, refused by `app`, with its standard body.
fn letter(container: &Container) -> DeadLetter {
    let notification = Notification::build(container, &serde_json::Map::new(), &[]);
    DeadLetter {
        notification_id: container.notification_id.clone(),
        connection: container.connection.clone(),
        sequence: container.sequence,
        destination: "app".into(),
        reason: "retry schedule exhausted".into(),
        attempts: vec![],
        dead_at: Utc::now(),
        body: serde_json::from_slice(&notification.body).unwrap(),
    }
}

/// A FHIR page on connection `fhir-c`: two Patients, their versions seen, the search cursor.
async fn commit_fhir_page(store: &Store) {
    let state = store.connection_state("fhir-c", "0").await.unwrap();
    let change = |id: &str| FhirChange {
        focus: format!("Patient/{id}"),
        version: "3".into(),
        event_type: "Patient.updated".into(),
        resource: json!({"resourceType": "Patient", "id": id}),
        changed_elements: vec!["name".into()],
        included: Vec::new(),
    };
    let seen = Seen {
        version: "3".into(),
        fingerprint: None,
        at: None,
    };
    let page = FhirCommit {
        type_name: "Patient".into(),
        track: Track::Search,
        cursor: FhirCursor {
            since: "2026-12-06T14:00:00.123Z".into(),
            past: true,
        },
        changes: vec![change("p1"), change("p2")],
        seen: vec![("p1".into(), seen.clone()), ("p2".into(), seen)],
    };
    store
        .commit_fhir("fhir-c", &state, page, Utc::now())
        .await
        .unwrap();
}

/// Record pages on connection `snap-d`: a listing's page (one change, two records, the
/// cursor moved) and a consume-once entry in another scope.
async fn commit_record_pages(store: &Store) {
    let pages = [
        RecordCommit {
            scope: "".into(),
            changes: vec![record_change("r1", "1")],
            records: vec![
                ("r1".into(), Some(recorded("x", 1))),
                ("r2".into(), Some(recorded("y", 0))),
            ],
            cursor: Some(CursorState::initial("2026-12-06T14:00:00Z")),
        },
        RecordCommit {
            scope: "consumed".into(),
            changes: Vec::new(),
            records: vec![("e1".into(), Some(recorded("e", 1)))],
            cursor: None,
        },
    ];
    for page in pages {
        let state = store.connection_state("snap-d", "0").await.unwrap();
        store
            .commit_records("snap-d", &state, page, Utc::now())
            .await
            .unwrap();
    }
}

/// A sled store in a fresh directory, filled by [`fill`].
async fn filled_store() -> (tempfile::TempDir, Arc<SledStore>, Filled) {
    let dir = tempfile::tempdir().unwrap();
    let sled = Arc::new(SledStore::open(dir.path()).unwrap());
    let filled = fill(&Store::new(sled.clone())).await;
    (dir, sled, filled)
}

#[actix_rt::test]
async fn a_copy_moves_every_record_under_its_own_key_and_sequence() {
    let (_dir, sled, filled) = filled_store().await;
    let database = fresh_database("copy_all");
    let db = Db::new(&target(&database)).unwrap();

    let copied = copy_store(sled.clone(), &db).await.unwrap();

    let figures = [
        copied.connections,
        copied.pending,
        copied.dead_letters,
        copied.fhir_cursors,
        copied.fhir_seen,
        copied.retained,
        copied.retained_destinations,
        copied.records,
    ];
    assert_eq!(figures, [4, 6, 1, 1, 2, 3, 2, 3], "{copied}");
    let source = Snapshot::of_sled(&sled).await;
    let copy = Snapshot::of_database(&db).await;
    assert_eq!(copy, source, "every row decodes to what sled holds");
    // What a user would check by hand: nothing renumbered, nothing lost.
    let next = |conn: &str| copy.connection(conn).map(|state| state.next_sequence);
    assert_eq!(
        (
            next("clinic-a"),
            next("clinic-b"),
            next("fhir-c"),
            next("snap-d")
        ),
        (Some(6), Some(3), Some(3), Some(2))
    );
    assert_eq!(
        copy.pending_keys(),
        [
            ("clinic-a", 4),
            ("clinic-a", 5),
            ("clinic-b", 2),
            ("fhir-c", 1),
            ("fhir-c", 2),
            ("snap-d", 1)
        ]
    );
    let records: Vec<_> = copy.records.iter().map(|r| (&*r.scope, &*r.key)).collect();
    assert_eq!(records, [("", "r1"), ("", "r2"), ("consumed", "e1")]);
    assert_eq!(copy.dead_letters[0].0.notification_id, filled.dead_id);
    let kept = copy.dead_letters[0].1.as_ref().map(|c| c.sequence);
    assert_eq!(kept, Some(3), "its container, for a retry");
    assert_eq!(copy.retained_ids(), filled.retained_ids);
    // The sled store is left as it was.
    assert_eq!(Snapshot::of_sled(&sled).await, source);
}

#[actix_rt::test]
async fn a_target_holding_state_is_refused_and_left_untouched() {
    let (_dir, sled, _) = filled_store().await;
    let database = fresh_database("copy_refused");
    let db = Db::new(&target(&database)).unwrap();
    copy_store(sled.clone(), &db).await.unwrap();
    let before = Snapshot::of_database(&db).await;

    // Another store (one connection, one page) into the same target: nothing merges.
    let other_dir = tempfile::tempdir().unwrap();
    let other = Arc::new(SledStore::open(other_dir.path()).unwrap());
    commit(&Store::new(other.clone()), "clinic-z", &[item("z1", 1)])
        .await
        .unwrap();
    let refused = copy_store(other, &db).await.unwrap_err();

    let text = refused.to_string();
    assert!(matches!(refused, CopyError::NotEmpty { .. }), "{refused:?}");
    assert!(
        text.contains("schema courier already holds state")
            && text.contains("connection_state, pending, dead_letters"),
        "{text}"
    );
    assert_eq!(Snapshot::of_database(&db).await, before, "left untouched");
}

#[actix_rt::test]
async fn one_row_of_any_table_is_enough_to_refuse_the_target() {
    let (_dir, sled, _) = filled_store().await;
    let database = fresh_database("copy_one_row");
    let db = Db::new(&target(&database)).unwrap();
    migrations::migrate(&db).await.unwrap();
    snapshot::execute(
        &db,
        "INSERT INTO fhir_seen (connection, type_name, id, seen) \
         VALUES ('clinic-y', 'Patient', 'p9', '{\"v\":\"1\",\"f\":null}')",
    )
    .await;

    let refused = copy_store(sled, &db).await.unwrap_err();

    assert!(
        refused.to_string().contains("(rows in fhir_seen)"),
        "{refused}"
    );
    let copy = Snapshot::of_database(&db).await;
    assert_eq!(
        (copy.connections.len(), copy.fhir_seen.len()),
        (0, 1),
        "nothing was copied"
    );
}

#[actix_rt::test]
async fn a_retained_record_the_segment_log_holds_twice_is_copied_once() {
    let dir = tempfile::tempdir().unwrap();
    let sled = Arc::new(SledStore::open(dir.path()).unwrap());
    let store = Store::new(sled.clone());
    let container = commit(&store, "clinic-a", &[item("a1", 1)])
        .await
        .unwrap()
        .remove(0);
    let notification = Notification::build(&container, &serde_json::Map::new(), &[]);
    // The same delivery written twice, as a move of an older store's records done again.
    let at = Utc::now();
    complete_retained(&store, &notification, "app", at).await;
    complete_retained(&store, &notification, "app", at).await;
    let database = fresh_database("copy_twice");
    let db = Db::new(&target(&database)).unwrap();

    let copied = copy_store(sled, &db).await.unwrap();

    assert_eq!((copied.retained, copied.retained_duplicates), (1, 1));
    assert!(
        copied.to_string().contains("1 held twice, copied once"),
        "{copied}"
    );
    assert_eq!(
        Snapshot::of_database(&db).await.retained_ids(),
        [notification.id]
    );
}

#[test]
fn a_directory_without_a_store_is_refused_and_stays_empty() {
    let dir = tempfile::tempdir().unwrap();
    let config = snapshot::unreachable_target();

    let refused = copy(dir.path(), &config).unwrap_err();

    assert!(matches!(refused, CopyError::NoStore { .. }), "{refused:?}");
    assert!(refused.to_string().ends_with("holds no Courier store"));
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no store created"
    );
}

#[test]
fn a_store_a_running_instance_holds_open_is_refused_with_stop_the_instance_first() {
    let dir = tempfile::tempdir().unwrap();
    let running = SledStore::open(dir.path()).unwrap();
    let config = snapshot::unreachable_target();

    let refused = copy(dir.path(), &config).unwrap_err();

    assert!(
        refused.to_string().ends_with("stop the instance first"),
        "{refused}"
    );
    drop(running);
}

#[test]
fn the_summary_names_every_table_and_what_was_not_copied_as_is() {
    let copied = Copied {
        schema: "courier".into(),
        connections: 2,
        pending: 14,
        retained: 25,
        retained_destinations: 3,
        retained_duplicates: 1,
        records: 3,
        ..Copied::default()
    };
    let text = copied.to_string();
    assert!(
        text.starts_with("copied into PostgreSQL schema courier:\n"),
        "{text}"
    );
    assert!(text.contains("  pending             14\n"), "{text}");
    assert!(text.contains("  records             3\n"), "{text}");
    assert!(
        text.contains("retained            25 (3 destinations); 1 held twice, copied once"),
        "{text}"
    );
    assert!(!text.contains("damaged"), "{text}");
}
