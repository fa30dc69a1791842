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
    let (_dir, store, _, sled) = on_disk(&[item("x", 1), item("y", 2)]).await;

    sled.fail_for_test();
    let fault = store.health().fault.expect("the fault shows");
    assert!(fault.error.contains("No space left"), "{}", fault.error);
    for result in [
        store.check().await.map(drop),
        store.connection_state("a", "0").await.map(drop),
        store.backlog("a").map(drop),
        store.is_pending("a", 1).await.map(drop),
    ] {
        assert!(
            matches!(result, Err(StoreError::Unavailable(_))),
            "{result:?}"
        );
    }
    assert!(matches!(
        store.pending("a", 0).next().await,
        Some(Err(StoreError::Unavailable(_)))
    ));
    assert!(commit(&store, "a", &[item("z", 3)]).await.is_err());

    until_reopened(&store).await;
    assert_eq!(store.health().faults_total, 1);
    assert_eq!(next_sequence(&store, "a").await, 3);
    assert_eq!(
        store.pending("a", 0).count().await,
        2,
        "what was durable is back"
    );
    commit(&store, "a", &[item("z", 3)]).await.unwrap();
    assert_eq!(store.backlog("a").unwrap().0, 3);
}

#[actix_rt::test]
async fn a_temporary_store_stays_out_of_service_after_a_fault() {
    let sled = Arc::new(SledStore::temporary().unwrap());
    let store = Store::new(sled.clone());
    sled.fail_for_test();
    assert!(matches!(
        store.check().await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(!store.health().is_ok());
}

#[actix_rt::test]
async fn a_snapshot_left_unfinished_by_a_full_disk_does_not_make_the_store_corrupt() {
    let (dir, store, _, sled) = on_disk(&[item("x", 1), item("y", 2)]).await;
    drop((store, sled));
    // What sled leaves when the disk refuses a snapshot: the file it writes before renaming,
    // empty or cut short, named after a later position than any finished snapshot.
    std::fs::write(dir.path().join("snap.00000000FFFFFFFF.generating"), b"").unwrap();
    let store = reopen(dir.path()).await;
    assert_eq!(next_sequence(&store, "a").await, 3);
    assert_eq!(store.pending("a", 0).count().await, 2);
}

#[actix_rt::test]
async fn a_walk_under_way_stops_at_a_fault_and_lets_the_files_be_reopened() {
    let (_dir, store, _, sled) = on_disk(&[item("x", 1), item("y", 2), item("z", 3)]).await;
    let mut walk = store.pending("a", 0);
    assert!(walk.next().await.unwrap().is_ok());

    sled.fail_for_test();
    assert!(matches!(
        walk.next().await,
        Some(Err(StoreError::Unavailable(_)))
    ));
    assert!(
        walk.next().await.is_none(),
        "nothing read on from the old files"
    );
    // The walk is still in scope: it no longer holds the files (nor sled's lock).
    until_reopened(&store).await;
    assert_eq!(store.pending("a", 0).count().await, 3);
    drop(walk);
}

#[actix_rt::test]
async fn after_a_reopen_a_completion_removes_only_the_container_it_delivered() {
    let (_dir, store, stored, sled) = on_disk(&[item("x", 1)]).await;
    sled.fail_for_test();
    until_reopened(&store).await;

    // Delivered before the re-open: another change under the same sequence.
    let mut other = stored[0].clone();
    other.key = "w".into();
    other.notification_id = notification_id("a", "w", "9");
    let delivered = Notification::build(&other, &serde_json::Map::new(), &[]);
    complete_unretained(&store, &delivered).await;
    assert!(
        store.is_pending("a", 1).await.unwrap(),
        "x is still to be delivered"
    );

    let delivered = Notification::build(&stored[0], &serde_json::Map::new(), &[]);
    complete_unretained(&store, &delivered).await;
    assert!(!store.is_pending("a", 1).await.unwrap());
}

#[actix_rt::test]
async fn a_store_whose_files_vanished_is_not_made_again_empty_and_heals_when_they_return() {
    let (dir, store, _, sled) = on_disk(&[item("x", 1), item("y", 2)]).await;
    let aside = dir.path().with_extension("aside");
    std::fs::rename(dir.path(), &aside).unwrap();
    sled.fail_for_test();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let fault = store
            .health()
            .fault
            .expect("out of service while the files are gone");
        let reason = fault.last_reopen_error.unwrap_or_default();
        if fault.reopen_attempts >= 2 {
            assert!(reason.contains("is gone"), "{reason}");
            break;
        }
        assert!(Instant::now() < deadline, "no re-open tried: {reason:?}");
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!dir.path().exists(), "no empty store made in its place");

    std::fs::rename(&aside, dir.path()).unwrap();
    until_reopened(&store).await;
    assert_eq!(next_sequence(&store, "a").await, 3);
    assert_eq!(
        store.pending("a", 0).count().await,
        2,
        "what was durable is back"
    );
}
