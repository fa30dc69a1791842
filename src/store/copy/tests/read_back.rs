//! The copy read back through the PostgreSQL store's own traits, as the cluster will read it:
//! the same pending pages, backlog, dead letters, FHIR records, record sources' records and
//! retained notifications as the sled store answers, and a next page continues at the same
//! next sequence.

use super::*;
use crate::store::contract::{complete_unretained, read_retained};
use crate::store::postgres::FencePolicy;
use crate::store::RetainedRange;

/// Every retained notification of `destination`, as (id, connection, sequence, body).
async fn retained(store: &Store, destination: &str) -> Vec<(String, String, u64, Vec<u8>)> {
    let range = RetainedRange {
        destination: destination.into(),
        since: chrono::DateTime::UNIX_EPOCH,
        until: None,
        connection: None,
    };
    let all = read_retained(store, &range).await.into_iter();
    all.map(|r| {
        let n = r.notification;
        (n.id, n.connection, n.sequence, n.body.to_vec())
    })
    .collect()
}

/// Every pending container of `connection`.
async fn pending(store: &Store, connection: &str) -> Vec<crate::model::Container> {
    let page = store.pending_page(connection, 0, 100).await.unwrap();
    page.items.into_iter().map(Result::unwrap).collect()
}

#[actix_rt::test]
async fn the_copy_reads_back_through_the_postgres_store_as_sled_answers_and_continues_numbering() {
    let (_dir, sled, filled) = filled_store().await;
    let database = fresh_database("copy_read_back");
    let db = Db::new(&target(&database)).unwrap();
    copy_store(sled.clone(), &db).await.unwrap();
    let source = Store::new(sled);

    let (copy, _pg) = Store::postgres(&target(&database), FencePolicy::SingleWriter).unwrap();

    for connection in ["clinic-a", "clinic-b", "fhir-c", "snap-d"] {
        assert_eq!(
            copy.connection_state(connection, "0").await.unwrap(),
            source.connection_state(connection, "0").await.unwrap(),
            "{connection}"
        );
        assert_eq!(
            pending(&copy, connection).await,
            pending(&source, connection).await,
            "{connection}"
        );
        assert_eq!(
            copy.backlog(connection).unwrap(),
            source.backlog(connection).unwrap(),
            "{connection}"
        );
    }
    assert_eq!(copy.pending_count(), source.pending_count());
    assert_eq!(
        copy.dead_letters().await.unwrap(),
        source.dead_letters().await.unwrap()
    );
    assert!(copy
        .find_dead_letter(&filled.dead_id)
        .await
        .unwrap()
        .is_some());
    for destination in ["app", "audit"] {
        assert_eq!(
            retained(&copy, destination).await,
            retained(&source, destination).await,
            "{destination}"
        );
    }
    assert_eq!(
        copy.fhir_cursor("fhir-c", "Patient", Track::Search)
            .await
            .unwrap(),
        source
            .fhir_cursor("fhir-c", "Patient", Track::Search)
            .await
            .unwrap()
    );
    assert_eq!(
        copy.fhir_seen("fhir-c", "Patient", "p2").await.unwrap(),
        source.fhir_seen("fhir-c", "Patient", "p2").await.unwrap()
    );

    for scope in ["", "consumed"] {
        assert_eq!(
            copy.scan_records("snap-d", scope, None, 10).await.unwrap(),
            source
                .scan_records("snap-d", scope, None, 10)
                .await
                .unwrap(),
            "{scope:?}"
        );
    }
    let state = copy.connection_state("snap-d", "0").await.unwrap();
    let forget = RecordCommit {
        scope: "".into(),
        changes: vec![record_change("r2", "removed-1")],
        records: vec![("r2".into(), None)],
        cursor: None,
    };
    let next = copy.commit_records("snap-d", &state, forget, chrono::Utc::now());
    assert_eq!(
        next.await.unwrap()[0].sequence,
        2,
        "the record source goes on"
    );
    let asked = ["r1".to_owned(), "r2".to_owned()];
    let left = copy.records("snap-d", "", &asked).await.unwrap();
    assert_eq!(left, [Some(recorded("x", 1)), None]);

    // The next page continues where sled stopped: no number is given twice.
    let next = commit(&copy, "clinic-a", &[item("a6", 6)]).await.unwrap();
    assert_eq!(next[0].sequence, 6);
    assert_eq!(
        copy.connection_state("clinic-a", "0")
            .await
            .unwrap()
            .next_sequence,
        7
    );
    // A retried dead letter comes back to pending under its id and sequence.
    let selection = crate::store::DeadLetterSelection::Id(filled.dead_id.clone());
    copy.retry_dead_letters(&selection).await.unwrap();
    let back = copy
        .container("clinic-a", 3)
        .await
        .unwrap()
        .expect("pending again");
    assert_eq!(back.notification_id, filled.dead_id);
}

#[actix_rt::test]
async fn a_dead_letter_sled_kept_no_container_for_is_copied_and_retried_from_its_body() {
    let dir = tempfile::tempdir().unwrap();
    let sled = Arc::new(SledStore::open(dir.path()).unwrap());
    let source = Store::new(sled.clone());
    let container = commit(&source, "clinic-a", &[item("a1", 1)])
        .await
        .unwrap()
        .remove(0);
    // Its container had left pending (delivered) when the letter was written.
    let notification = Notification::build(&container, &serde_json::Map::new(), &[]);
    complete_unretained(&source, &notification).await;
    source.dead_letter(&letter(&container)).await.unwrap();
    let database = fresh_database("copy_no_container");
    let db = Db::new(&target(&database)).unwrap();

    copy_store(sled, &db).await.unwrap();

    let copied = Snapshot::of_database(&db).await.dead_letters;
    let copied: Vec<_> = copied
        .iter()
        .map(|(l, c)| (&l.notification_id, c))
        .collect();
    assert_eq!(
        copied,
        [(&container.notification_id, &None)],
        "no container beside it"
    );
    let (copy, _pg) = Store::postgres(&target(&database), FencePolicy::SingleWriter).unwrap();
    let all =
        crate::store::DeadLetterSelection::Matching(crate::store::DeadLetterFilter::default());
    assert_eq!(copy.retry_dead_letters(&all).await.unwrap().len(), 1);
    let back = copy
        .container("clinic-a", 1)
        .await
        .unwrap()
        .expect("pending again");
    assert_eq!(
        (back.notification_id, back.key),
        (container.notification_id, container.key)
    );
}
