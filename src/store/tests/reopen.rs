//! A store after a write fault: out of service at once, re-opened from what is on disk.

use std::time::{Duration, Instant};

use super::*;

/// Waits until the store answers again; it re-opens itself within a few seconds.
async fn until_reopened(store: &Store) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !store.health().is_ok() {
        assert!(
            Instant::now() < deadline,
            "not re-opened: {:?}",
            store.health()
        );
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
}

#[actix_rt::test]
async fn a_write_fault_stops_every_call_until_the_files_are_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    commit(&store, "a", &[item("x", 1), item("y", 2)])
        .await
        .unwrap();

    store.fail_for_test();
    let fault = store.health().fault.expect("the fault shows");
    assert!(fault.error.contains("No space left"), "{}", fault.error);
    for result in [
        store.check().map(drop),
        store.connection_state("a", "0").map(drop),
        store.backlog("a").map(drop),
        store.is_pending("a", 1).map(drop),
    ] {
        assert!(
            matches!(result, Err(StoreError::Unavailable(_))),
            "{result:?}"
        );
    }
    assert!(matches!(
        store.pending("a", 0).next(),
        Some(Err(StoreError::Unavailable(_)))
    ));
    assert!(commit(&store, "a", &[item("z", 3)]).await.is_err());

    until_reopened(&store).await;
    assert_eq!(store.health().faults_total, 1);
    assert_eq!(store.connection_state("a", "0").unwrap().next_sequence, 3);
    assert_eq!(store.pending("a", 0).count(), 2, "what was durable is back");
    commit(&store, "a", &[item("z", 3)]).await.unwrap();
    assert_eq!(store.backlog("a").unwrap().0, 3);
}

#[actix_rt::test]
async fn a_temporary_store_stays_out_of_service_after_a_fault() {
    let store = Store::temporary().unwrap();
    store.fail_for_test();
    assert!(matches!(store.check(), Err(StoreError::Unavailable(_))));
    assert!(!store.health().is_ok());
}

#[actix_rt::test]
async fn a_snapshot_left_unfinished_by_a_full_disk_does_not_make_the_store_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        commit(&store, "a", &[item("x", 1), item("y", 2)])
            .await
            .unwrap();
    }
    // What sled leaves when the disk refuses a snapshot: the file it writes before renaming,
    // empty or cut short, named after a later position than any finished snapshot.
    std::fs::write(dir.path().join("snap.00000000FFFFFFFF.generating"), b"").unwrap();
    let store = reopen(dir.path()).await;
    assert_eq!(store.connection_state("a", "0").unwrap().next_sequence, 3);
    assert_eq!(store.pending("a", 0).count(), 2);
}
