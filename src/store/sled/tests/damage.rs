//! A damaged or rolled-back store on disk: a clear error instead of a panic, and a store put
//! back from an older copy refused until an operator accepts it.

use std::fs;

use super::*;
use crate::store::marks::MARKS_FILE;

/// Commits `pages` pages of two changes each to connection `a` in the store at `path`, and
/// closes it.
async fn fill(path: &Path, pages: u64) {
    let store = reopen(path).await;
    let first = next_sequence(&store, "a").await;
    for page in 0..pages {
        let at = first + 2 * page;
        commit(&store, "a", &[item("x", at), item("y", at + 1)])
            .await
            .unwrap();
    }
}

/// Flips `count` bytes of `file` at positions from `seed`.
fn flip_bytes(file: &Path, count: usize, seed: u64) {
    let mut bytes = fs::read(file).unwrap();
    let mut rng = fastrand::Rng::with_seed(seed);
    for _ in 0..count {
        let at = rng.usize(..bytes.len());
        bytes[at] ^= 0xff;
    }
    fs::write(file, bytes).unwrap();
}

/// The case: 300 random bytes of the sled file flipped made every start panic
/// (`tried to serialize Uninitialized`) once the file is past sled's first 512 KiB segment.
#[actix_rt::test]
async fn a_store_with_flipped_bytes_is_reported_damaged_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), 1500).await;
    flip_bytes(&dir.path().join("db"), 300, 1);
    match Store::open(dir.path()) {
        Err(StoreError::Damaged(Damaged { path, .. })) => assert_eq!(path, dir.path()),
        Err(other) => panic!("not reported as damaged: {other}"),
        Ok(_) => panic!("a damaged store opened"),
    }
}

#[actix_rt::test]
async fn marks_hold_the_connection_state_of_the_last_flush() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), 3).await;
    let store = reopen(dir.path()).await;
    let text = fs::read_to_string(dir.path().join(MARKS_FILE)).unwrap();
    let marks: serde_json::Value = serde_json::from_str(&text).unwrap();
    let state = store.connection_state("a", "0").await.unwrap();
    assert_eq!(state.next_sequence, 7);
    assert_eq!(marks["connections"]["a"]["next_sequence"], 7, "{text}");
    assert_eq!(marks["connections"]["a"]["cursor"], "6", "{text}");
}

/// Pages committed in a burst and then nothing: the marks reach the file without waiting
/// for another flush or the store's close.
#[actix_rt::test]
async fn marks_of_a_burst_reach_the_file_while_the_store_stays_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    for at in [1, 3, 5] {
        commit(&store, "a", &[item("x", at), item("y", at + 1)])
            .await
            .unwrap();
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let marks = dir.path().join(MARKS_FILE);
    while !fs::read_to_string(&marks)
        .unwrap()
        .contains("\"next_sequence\":7")
    {
        assert!(std::time::Instant::now() < deadline, "marks not written");
        actix_rt::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A store with the marks of a later state of itself, as when an older copy is put back.
#[actix_rt::test]
async fn a_store_behind_its_marks_is_refused_until_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let (store, later) = (dir.path().join("store"), dir.path().join("later"));
    fill(&store, 2).await;
    fill(&later, 5).await;
    fs::rename(later.join(MARKS_FILE), store.join(MARKS_FILE)).unwrap();

    let refused = Store::open(&store)
        .err()
        .expect("an older store is refused");
    let text = refused.to_string();
    assert!(
        text.contains("connection a: next sequence 11 -> 5, cursor 10 -> 4"),
        "{text}"
    );
    assert!(text.contains("--accept-store-rollback"), "{text}");

    let accepted = Store::open_with(&store, Rollback::Accept).expect("accepted");
    assert_eq!(
        accepted
            .connection_state("a", "0")
            .await
            .unwrap()
            .next_sequence,
        5
    );
    drop(accepted);
    reopen(&store).await;
}
