//! `courier run` on a damaged store, as an operator meets it: bytes flipped in the sled file
//! stop it with exit 3 and a message naming the store and the way out (not a panic inside
//! sled); an older copy of the store put back stops it with exit 4 saying per connection what
//! went backwards, until `--accept-store-rollback`.

use std::fs;
use std::path::Path;
use std::time::Duration;

use crate::support::app::{eventually, PATIENCE};
use crate::support::process::{backlog, Rig};

/// The longest a refused start may take: it only opens the store.
const REFUSED_WITHIN: Duration = Duration::from_secs(20);

/// How long 2,000 notifications may take on a busy machine (about 5 s on a quiet one).
const BACKLOG_PATIENCE: Duration = Duration::from_secs(60);

/// The high-water marks' file in the store's directory.
const MARKS: &str = "marks.json";

/// Runs courier on `rig` with `options` until the receiver got `requests` requests (within
/// `patience`), then stops it gracefully.
async fn run_until(rig: &mut Rig, requests: usize, options: &[&str], patience: Duration) {
    let courier = rig.start_with(options);
    eventually(&format!("{requests} requests"), patience, || {
        rig.requests() >= requests
    })
    .await;
    courier.stop().await;
}

/// The store's files in `from`, copied to `to`, its marks left out.
fn copy_without_marks(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap().map(Result::unwrap) {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_without_marks(&entry.path(), &target);
        } else if entry.file_name() != MARKS {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[actix_rt::test]
async fn a_store_with_flipped_bytes_stops_courier_with_exit_3_naming_the_store_and_the_way_out() {
    let mut rig = Rig::new(backlog(2000), "");
    // About 2.4 MB, past sled's first 512 KiB segment: flipped bytes in a smaller file make sled recover
    // less (a store that went backwards), not panic.
    run_until(&mut rig, 2000, &[], BACKLOG_PATIENCE).await;
    let store = rig.dir.path().join("store");
    let db = store.join("db");
    let mut bytes = fs::read(&db).unwrap();
    let mut rng = fastrand::Rng::with_seed(1);
    for _ in 0..300 {
        let at = rng.usize(..bytes.len());
        bytes[at] ^= 0xff;
    }
    fs::write(&db, bytes).unwrap();

    let status = rig.start().exited(REFUSED_WITHIN).await;
    let logs = rig.log_text();
    assert_eq!(status.code(), Some(3), "{logs}");
    assert!(logs.contains(&format!("store {} is damaged", store.display())));
    assert!(logs.contains("Restore the directory from a backup, or move it aside"));
    assert!(!logs.contains("thread 'main' panicked"), "{logs}");
}

#[actix_rt::test]
async fn an_older_copy_of_the_store_is_refused_with_exit_4_until_the_operator_accepts_it() {
    let mut rig = Rig::new(backlog(100), "");
    rig.log_filter = "error";
    run_until(&mut rig, 100, &[], PATIENCE).await;
    let (store, early) = (rig.dir.path().join("store"), rig.dir.path().join("early"));
    copy_without_marks(&store, &early);
    for _ in 0..100 {
        rig.ehr.control().touch_random();
    }
    run_until(&mut rig, 200, &[], PATIENCE).await;
    assert_eq!(rig.delivered(), 200);
    // The older copy comes back, with the marks of the newer state.
    fs::rename(store.join(MARKS), early.join(MARKS)).unwrap();
    fs::remove_dir_all(&store).unwrap();
    fs::rename(&early, &store).unwrap();

    let status = rig.start().exited(REFUSED_WITHIN).await;
    let logs = rig.log_text();
    assert_eq!(status.code(), Some(4), "{logs}");
    let what = "connection clinic-a: next sequence 201 -> 101, cursor 200 -> 100";
    assert!(logs.contains(what), "{logs}");
    assert!(logs.contains("--accept-store-rollback"), "{logs}");
    assert_eq!(rig.requests(), 200, "a refused start sends nothing");

    // Accepted: the ERROR line says what was lost, and the changes after the older cursor
    // come again under their ids.
    run_until(&mut rig, 300, &["--accept-store-rollback"], PATIENCE).await;
    assert_eq!(rig.delivered(), 200, "the same ids again");
    let logs = rig.log_text();
    assert!(logs.contains(&format!(
        "ERROR courier::store::sled::marks] store {}",
        store.display()
    )));
    assert!(logs.contains(&format!(
        "went backwards, accepted (--accept-store-rollback): {what}"
    )));
    // Accepted once, the store starts as usual again.
    rig.ehr.control().touch_random();
    let courier = rig.start();
    eventually("the next change delivered", PATIENCE, || {
        rig.delivered() == 201
    })
    .await;
    courier.stop().await;
}
