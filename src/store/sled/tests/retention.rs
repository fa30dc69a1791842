//! Delivered notifications retained for replay: kept by complete(), read by range, swept.

use super::*;
use crate::store::contract::read_retained;
use crate::store::contract::retention::{complete_retained, retained_range};
use crate::store::Retained;
use chrono::{DateTime, Utc};

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
        complete_retained(&store, &notification, "d", at).await;
        store.flush().await.unwrap();
        notification
    };
    let store = reopen(dir.path()).await;
    let retained = read_retained(&store, &retained_range(at, None)).await;
    let read: Vec<Notification> = retained.into_iter().map(|r| r.notification).collect();
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
    let moved: Vec<Retained> = read_retained(&store, &retained_range(at, None)).await;
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
    assert_eq!(store.retained_count().await.unwrap(), 1);
}
