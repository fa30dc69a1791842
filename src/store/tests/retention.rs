//! Delivered notifications retained for replay: kept by complete(), read by range, swept.

use super::*;

/// A 72-hour retention: one-minute segments.
const KEEP: std::time::Duration = std::time::Duration::from_secs(72 * 3600);

/// Completes `notification` as delivered to `destination` at `at`, keeping it for `KEEP`.
fn complete_retained(
    store: &Store,
    notification: &Notification,
    destination: &str,
    at: DateTime<Utc>,
) {
    let retain = Retain {
        destination,
        keep: KEEP,
    };
    let delivered = Delivered { notification, at };
    store.complete(&[delivered], Some(retain)).unwrap();
}

fn retained_range(since: DateTime<Utc>, until: Option<DateTime<Utc>>) -> RetainedRange {
    RetainedRange {
        destination: "d".into(),
        since,
        until,
        connection: None,
    }
}

#[actix_rt::test]
async fn complete_keeps_the_delivered_bytes_for_replay_by_time_and_connection() {
    let store = Store::temporary().unwrap();
    let t0: DateTime<Utc> = "2026-11-26T10:00:00Z".parse().unwrap();
    let mut delivered = Vec::new();
    for (i, conn) in ["a", "b", "a"].into_iter().enumerate() {
        let container = commit(&store, conn, &[item(&format!("k{i}"), i as u64 + 1)])
            .await
            .unwrap()
            .remove(0);
        let notification = Notification::build(&container, &serde_json::Map::new(), &[]);
        let at = t0 + chrono::Duration::minutes(i as i64);
        complete_retained(&store, &notification, "d", at);
        delivered.push(notification);
    }
    assert_eq!(
        store.pending_count(),
        0,
        "completed containers left pending"
    );
    let read = |range: &RetainedRange| -> Vec<(String, Vec<u8>)> {
        store
            .retained(range)
            .map(|r| r.unwrap().notification)
            .map(|n| (n.id, n.body.to_vec()))
            .collect()
    };
    let all = read(&retained_range(t0, None));
    let expected: Vec<_> = delivered
        .iter()
        .map(|n| (n.id.clone(), n.body.to_vec()))
        .collect();
    assert_eq!(all, expected, "the exact bytes, oldest delivery first");
    let minute = chrono::Duration::minutes(1);
    assert_eq!(read(&retained_range(t0 + minute, None)), expected[1..]);
    assert_eq!(read(&retained_range(t0, Some(t0 + minute))), expected[..1]);
    let only_a = RetainedRange {
        connection: Some("a".into()),
        ..retained_range(t0, None)
    };
    assert_eq!(
        read(&only_a),
        vec![expected[0].clone(), expected[2].clone()]
    );
    let other = RetainedRange {
        destination: "e".into(),
        ..retained_range(t0, None)
    };
    assert!(read(&other).is_empty());
    // Without retention, completing only forgets the container.
    let container = commit(&store, "c", &[item("z", 9)])
        .await
        .unwrap()
        .remove(0);
    let notification = Notification::build(&container, &serde_json::Map::new(), &[]);
    complete_unretained(&store, &notification);
    assert_eq!(
        (store.pending_count(), store.retained_count().unwrap()),
        (0, 3)
    );
}

#[actix_rt::test]
async fn the_sweep_removes_only_what_each_destination_no_longer_keeps() {
    let store = Store::temporary().unwrap();
    let t0: DateTime<Utc> = "2026-11-26T10:00:00Z".parse().unwrap();
    for (i, dest) in ["d", "d", "e", "e"].into_iter().enumerate() {
        let container = commit(&store, "a", &[item(&format!("k{i}"), i as u64 + 1)])
            .await
            .unwrap()
            .remove(0);
        let notification = Notification::build(&container, &serde_json::Map::new(), &[]);
        let at = t0 + chrono::Duration::hours(i as i64 % 2);
        complete_retained(&store, &notification, dest, at);
    }
    // d keeps what was delivered from t0 + 30 min on; e keeps nothing. Whole segments go:
    // d's first, e's two.
    let half_hour = t0 + chrono::Duration::minutes(30);
    let removed = store
        .sweep_retained(|dest| {
            if dest == "d" {
                half_hour
            } else {
                t0 + chrono::Duration::days(1)
            }
        })
        .unwrap();
    assert_eq!(removed.segments, 3);
    assert!(removed.bytes > 0);
    let left: Vec<u64> = store
        .retained(&retained_range(t0, None))
        .map(|r| r.unwrap().key.sequence)
        .collect();
    assert_eq!(left, [2]);
    assert_eq!(store.retained_count().unwrap(), 1);
}

#[actix_rt::test]
async fn retained_notifications_survive_a_restart_beside_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let at: DateTime<Utc> = "2026-11-26T10:00:00Z".parse().unwrap();
    let delivered = {
        let store = Store::open(dir.path()).unwrap();
        let container = commit(&store, "a", &[item("k", 1)])
            .await
            .unwrap()
            .remove(0);
        let notification = Notification::build(&container, &serde_json::Map::new(), &[]);
        complete_retained(&store, &notification, "d", at);
        store.flush().await.unwrap();
        notification
    };
    let store = reopen(dir.path()).await;
    let read: Vec<Notification> = store
        .retained(&retained_range(at, None))
        .map(|r| r.unwrap().notification)
        .collect();
    assert_eq!(read.len(), 1);
    assert_eq!(
        (&read[0].id, &read[0].body, read[0].sequence),
        (&delivered.id, &delivered.body, 1)
    );
    assert_eq!(store.pending_count(), 0, "the container stays forgotten");
}

#[actix_rt::test]
async fn a_store_that_retained_in_sled_has_them_moved_into_segments() {
    let dir = tempfile::tempdir().unwrap();
    let at: DateTime<Utc> = "2026-11-26T10:00:00.250Z".parse().unwrap();
    {
        let db = sled::open(dir.path()).unwrap();
        let tree = db.open_tree("retained").unwrap();
        // The layout written before the segment log.
        let mut value = Vec::new();
        for part in [&b"n-1"[..], b"rec-7"] {
            value.extend_from_slice(&(part.len() as u32).to_be_bytes());
            value.extend_from_slice(part);
        }
        value.extend_from_slice(br#"{"id":"n-1"}"#);
        tree.insert(keys::retained("d", at, "a", 7), value).unwrap();
        db.flush().unwrap();
    }
    let store = reopen(dir.path()).await;
    let moved: Vec<Retained> = store
        .retained(&retained_range(at, None))
        .map(Result::unwrap)
        .collect();
    assert_eq!(moved.len(), 1);
    let Retained { key, notification } = &moved[0];
    assert_eq!((key.delivered_at, key.sequence), (at, 7));
    assert_eq!(
        (
            &*notification.id,
            &*notification.key,
            &*notification.connection
        ),
        ("n-1", "rec-7", "a")
    );
    assert_eq!(&notification.body[..], br#"{"id":"n-1"}"#);
    drop(store);
    // Moved once: the legacy tree is gone, so a second open moves nothing again.
    let store = reopen(dir.path()).await;
    assert_eq!(store.retained_count().unwrap(), 1);
}
