//! Unit tests of what only the sled backend has: files on disk, re-opens after write faults,
//! high-water marks, damage, segment files. What every backend keeps is tested once for all
//! in `store::contract`.

mod damage;
mod reopen;
mod retention;

use std::sync::Arc;

use super::*;
use crate::model::{notification_id, Notification};
use crate::store::contract::{commit, complete_unretained, item, next_sequence};
use crate::store::Store;

/// A store in a fresh directory, with connection `a`'s `items` committed: the directory
/// lives as long as the returned guard.
/// The sled store is returned too, to fail it as a write fault would.
async fn on_disk(
    items: &[ChangeItem],
) -> (tempfile::TempDir, Store, Vec<Container>, Arc<SledStore>) {
    let dir = tempfile::tempdir().unwrap();
    let sled = Arc::new(SledStore::open(dir.path()).unwrap());
    let store = Store::new(sled.clone());
    let stored = commit(&store, "a", items).await.unwrap();
    (dir, store, stored, sled)
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
async fn state_survives_reopening_the_directory() {
    let (dir, store, _, sled) = on_disk(&[item("x", 1), item("y", 2)]).await;
    drop((store, sled));
    let store = reopen(dir.path()).await;
    assert_eq!(next_sequence(&store, "a").await, 3);
    assert_eq!(store.pending("a", 0).count().await, 2);
}

#[actix_rt::test]
async fn a_record_pages_containers_and_records_survive_reopening_the_directory() {
    use crate::model::RecordCommit;
    use crate::store::contract::records::{change, recorded};
    let (dir, store, _, sled) = on_disk(&[item("x", 1)]).await;
    let state = store.connection_state("a", "0").await.unwrap();
    let commit = RecordCommit {
        scope: "Appointment".into(),
        changes: vec![change("Appointment/r1", "1")],
        records: vec![("Appointment/r1".into(), Some(recorded("v", 1)))],
        cursor: None,
    };
    let written = store
        .commit_records("a", &state, commit, chrono::Utc::now())
        .await
        .unwrap();
    drop((store, sled));

    let store = reopen(dir.path()).await;

    let pending: Vec<Container> = store.pending("a", 2).collect().await.unwrap();
    assert_eq!(pending, written);
    assert_eq!(next_sequence(&store, "a").await, 3);
    let records = store.scan_records("a", "Appointment", None, 10).await;
    let expected = [("Appointment/r1".to_owned(), recorded("v", 1))];
    assert_eq!(records.unwrap(), expected);
}
