//! Fencing: with leases, a connection's state is written only under this instance's lease,
//! checked in the write's own transaction; migrations run once however many instances open
//! the store together.

use std::sync::Arc;

use chrono::Utc;

use super::{config_for, fresh, query, sql, TestDatabase};
use crate::model::Notification;
use crate::store::contract::dead_letters::letter as dead_letters_letter;
use crate::store::contract::{commit, item, next_sequence};
use crate::store::postgres::{Fence, FencePolicy, PgStore};
use crate::store::{Delivered, Store, StoreError};

/// A store with leases over a fresh database.
fn leased(hint: &str) -> (TestDatabase, Store, Arc<PgStore>) {
    let database = fresh(hint);
    let (store, pg) = Store::postgres(&config_for(&database.url), FencePolicy::Leases).unwrap();
    (database, store, pg)
}

/// This instance's lease on `connection` at `epoch`, valid for ten more seconds.
fn lease(database: &TestDatabase, connection: &str, epoch: i64) -> Fence {
    sql(
        database,
        &format!(
            "INSERT INTO courier.leases (connection, owner, epoch, expires_at) \
             VALUES ('{connection}', 'me', {epoch}, now() + interval '10 seconds')"
        ),
    );
    Fence {
        owner: "me".into(),
        epoch,
    }
}

fn pending_rows(database: &TestDatabase, connection: &str) -> String {
    query(
        database,
        &format!("SELECT count(*) FROM courier.pending WHERE connection = '{connection}'"),
    )
}

#[actix_rt::test]
async fn a_write_without_the_lease_is_fenced_and_writes_nothing() {
    let (database, store, _pg) = leased("nolease");
    let err = commit(&store, "a", &[item("x", 1)]).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Fenced(ref c) if c == "a"),
        "{err}"
    );
    assert_eq!(pending_rows(&database, "a"), "0");
    assert_eq!(next_sequence(&store, "a").await, 1);
}

#[actix_rt::test]
async fn a_takeover_fences_the_old_owner_in_its_next_commit() {
    let (database, store, pg) = leased("takeover");
    pg.own("a", lease(&database, "a", 1)).await.unwrap();
    let written = commit(&store, "a", &[item("x", 1), item("y", 2)])
        .await
        .unwrap();
    assert_eq!(written.len(), 2);
    assert_eq!(
        store.backlog("a").unwrap().0,
        2,
        "owned: its backlog is kept"
    );

    sql(
        &database,
        "UPDATE courier.leases SET owner = 'other', epoch = epoch + 1",
    );
    let err = commit(&store, "a", &[item("z", 3)]).await.unwrap_err();
    assert!(matches!(err, StoreError::Fenced(_)), "{err}");
    let state = store.connection_state("a", "0").await.unwrap();
    assert_eq!((state.cursor.value.as_str(), state.next_sequence), ("2", 3));
    assert_eq!(
        pending_rows(&database, "a"),
        "2",
        "no container of the fenced page"
    );

    // Its late completion leaves the containers to the new owner, who delivers them again.
    let late = Notification::build(&written[0], &serde_json::Map::new(), &[]);
    let delivered = [Delivered {
        notification: &late,
        at: Utc::now(),
    }];
    store.complete(&delivered, None).await.unwrap();
    assert_eq!(pending_rows(&database, "a"), "2");
    let letter = dead_letters_letter(&written[1], "d");
    let err = store.dead_letter(&letter).await.unwrap_err();
    assert!(matches!(err, StoreError::Fenced(_)), "{err}");
    assert!(store.dead_letters().await.unwrap().is_empty());
}

#[actix_rt::test]
async fn a_fenced_record_commit_writes_nothing() {
    use crate::model::{CursorState, RecordCommit};
    use crate::store::contract::records::{change, recorded, write};
    let (database, store, pg) = leased("records");
    pg.own("a", lease(&database, "a", 1)).await.unwrap();
    write(&store, "a", "", &[("r1", recorded("x", 1))]).await;
    let state = store.connection_state("a", "0").await.unwrap();
    sql(
        &database,
        "UPDATE courier.leases SET owner = 'other', epoch = epoch + 1",
    );

    let commit = RecordCommit {
        scope: "".into(),
        changes: vec![change("r2", "1")],
        records: vec![("r1".into(), None), ("r2".into(), Some(recorded("y", 1)))],
        cursor: Some(CursorState::initial("moved")),
    };
    let err = store.commit_records("a", &state, commit, Utc::now()).await;

    assert!(matches!(err, Err(StoreError::Fenced(_))), "{err:?}");
    assert_eq!(pending_rows(&database, "a"), "0", "no container");
    let records = "SELECT string_agg(key, ',') FROM courier.records WHERE connection = 'a'";
    assert_eq!(query(&database, records), "r1", "records untouched");
    let after = store.connection_state("a", "0").await.unwrap();
    assert_eq!(after, state, "cursor and numbering untouched");
}

#[actix_rt::test]
async fn an_expired_lease_fences_its_holder() {
    let (database, store, pg) = leased("expired");
    pg.own("a", lease(&database, "a", 7)).await.unwrap();
    commit(&store, "a", &[item("x", 1)]).await.unwrap();
    sql(
        &database,
        "UPDATE courier.leases SET expires_at = now() - interval '1 second'",
    );
    let err = commit(&store, "a", &[item("y", 2)]).await.unwrap_err();
    assert!(matches!(err, StoreError::Fenced(_)), "{err}");
    assert_eq!(next_sequence(&store, "a").await, 2);
}

#[actix_rt::test]
async fn a_batch_completes_the_connections_still_held_and_leaves_the_fenced_ones() {
    let (database, store, pg) = leased("batch");
    pg.own("a", lease(&database, "a", 1)).await.unwrap();
    pg.own("b", lease(&database, "b", 1)).await.unwrap();
    let a = commit(&store, "a", &[item("x", 1)])
        .await
        .unwrap()
        .remove(0);
    let b = commit(&store, "b", &[item("x", 1)])
        .await
        .unwrap()
        .remove(0);
    sql(
        &database,
        "UPDATE courier.leases SET owner = 'other', epoch = epoch + 1 WHERE connection = 'b'",
    );
    let notifications = [a, b].map(|c| Notification::build(&c, &serde_json::Map::new(), &[]));
    let delivered: Vec<Delivered<'_>> = notifications
        .iter()
        .map(|notification| Delivered {
            notification,
            at: Utc::now(),
        })
        .collect();
    store.complete(&delivered, None).await.unwrap();
    assert_eq!(pending_rows(&database, "a"), "0");
    assert_eq!(pending_rows(&database, "b"), "1", "left to b's new owner");
    assert_eq!(store.backlog("a").unwrap(), (0, None));

    // Disowned: its writes are fenced at once, before any lease check.
    pg.disown("a");
    let err = commit(&store, "a", &[item("y", 2)]).await.unwrap_err();
    assert!(matches!(err, StoreError::Fenced(_)), "{err}");
}

#[actix_rt::test]
async fn a_retry_from_any_instance_tells_the_owner_to_walk_again() {
    let (database, store, pg) = leased("retry");
    pg.own("a", lease(&database, "a", 1)).await.unwrap();
    let container = commit(&store, "a", &[item("x", 1)])
        .await
        .unwrap()
        .remove(0);
    store
        .dead_letter(&dead_letters_letter(&container, "d"))
        .await
        .unwrap();
    assert_eq!(store.backlog("a").unwrap(), (0, None));
    // Another instance, which owns nothing, retries it.
    let (other, _) = Store::postgres(&config_for(&database.url), FencePolicy::Leases).unwrap();
    let all = crate::store::DeadLetterSelection::Matching(Default::default());
    assert_eq!(other.retry_dead_letters(&all).await.unwrap().len(), 1);
    assert_eq!(
        other.pending_count(),
        0,
        "it keeps no backlog of what it does not own"
    );
    let redispatch = "SELECT redispatch FROM courier.leases WHERE connection = 'a'";
    assert_eq!(query(&database, redispatch), "1");
    assert_eq!(pending_rows(&database, "a"), "1");
}

#[test]
fn migrations_run_once_however_many_instances_open_the_store() {
    let database = fresh("migrations");
    let config = config_for(&database.url);
    let together: Vec<_> = (0..3)
        .map(|_| {
            let config = config.clone();
            std::thread::spawn(move || PgStore::open(&config, FencePolicy::SingleWriter).map(drop))
        })
        .collect();
    for opening in together {
        opening.join().unwrap().expect("every instance opens");
    }
    PgStore::open(&config, FencePolicy::SingleWriter).expect("and opens again");
    let versions = query(
        &database,
        "SELECT string_agg(version || ':' || n, ',' ORDER BY version) \
         FROM (SELECT version, count(*) AS n FROM courier.courier_migrations GROUP BY version) v",
    );
    assert_eq!(versions, "1:1,2:1,3:1");
}

#[actix_rt::test]
async fn a_new_owner_takes_over_the_backlog_and_the_numbering() {
    let (database, old, old_pg) = leased("newowner");
    old_pg.own("a", lease(&database, "a", 1)).await.unwrap();
    let written = commit(&old, "a", &[item("x", 1), item("y", 2)])
        .await
        .unwrap();

    let (new, new_pg) = Store::postgres(&config_for(&database.url), FencePolicy::Leases).unwrap();
    assert_eq!(
        new.backlog("a").unwrap(),
        (0, None),
        "not its connection yet"
    );
    sql(
        &database,
        "UPDATE courier.leases SET owner = 'new', epoch = 2 WHERE connection = 'a'",
    );
    let fence = Fence {
        owner: "new".into(),
        epoch: 2,
    };
    new_pg.own("a", fence).await.unwrap();
    assert_eq!(
        new.backlog("a").unwrap(),
        (2, Some(written[0].detected_at)),
        "the backlog is read when it takes the connection"
    );
    let next = commit(&new, "a", &[item("z", 3)]).await.unwrap();
    assert_eq!(next[0].sequence, 3, "numbering goes on, gap-free");
    let pending: Vec<_> = new.pending("a", 0).collect().await.unwrap();
    assert_eq!(
        pending[..2],
        written[..],
        "same ids and sequences for the new owner"
    );
}
