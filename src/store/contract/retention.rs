//! Delivered notifications retained for replay: kept by complete(), read by range, swept.

use super::*;

contract!(
    complete_keeps_the_delivered_bytes_for_replay_by_time_and_connection,
    the_sweep_removes_only_what_each_destination_no_longer_keeps,
);

/// A 72-hour retention: one-minute segments.
const KEEP: std::time::Duration = std::time::Duration::from_secs(72 * 3600);

/// Completes `notification` as delivered to `destination` at `at`, keeping it for `KEEP`.
pub(crate) async fn complete_retained(
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
    store.complete(&[delivered], Some(retain)).await.unwrap();
}

/// The id and body bytes of each notification retained in `range`.
async fn read(store: &Store, range: &RetainedRange) -> Vec<(String, Vec<u8>)> {
    let retained = read_retained(store, range).await;
    let notifications = retained.into_iter().map(|r| r.notification);
    notifications.map(|n| (n.id, n.body.to_vec())).collect()
}

pub(crate) fn retained_range(since: DateTime<Utc>, until: Option<DateTime<Utc>>) -> RetainedRange {
    RetainedRange {
        destination: "d".into(),
        since,
        until,
        connection: None,
    }
}

async fn complete_keeps_the_delivered_bytes_for_replay_by_time_and_connection(store: Store) {
    let t0: DateTime<Utc> = "2026-11-26T10:00:00Z".parse().unwrap();
    let mut delivered = Vec::new();
    for (i, conn) in ["a", "b", "a"].into_iter().enumerate() {
        let container = commit(&store, conn, &[item(&format!("k{i}"), i as u64 + 1)])
            .await
            .unwrap()
            .remove(0);
        let notification = Notification::build(&container, &serde_json::Map::new(), &[]);
        let at = t0 + chrono::Duration::minutes(i as i64);
        complete_retained(&store, &notification, "d", at).await;
        delivered.push(notification);
    }
    assert_eq!(
        store.pending_count(),
        0,
        "completed containers left pending"
    );
    let all = read(&store, &retained_range(t0, None)).await;
    let expected: Vec<_> = delivered
        .iter()
        .map(|n| (n.id.clone(), n.body.to_vec()))
        .collect();
    assert_eq!(all, expected, "the exact bytes, oldest delivery first");
    let minute = chrono::Duration::minutes(1);
    assert_eq!(
        read(&store, &retained_range(t0 + minute, None)).await,
        expected[1..]
    );
    assert_eq!(
        read(&store, &retained_range(t0, Some(t0 + minute))).await,
        expected[..1]
    );
    let only_a = RetainedRange {
        connection: Some("a".into()),
        ..retained_range(t0, None)
    };
    assert_eq!(
        read(&store, &only_a).await,
        vec![expected[0].clone(), expected[2].clone()]
    );
    let other = RetainedRange {
        destination: "e".into(),
        ..retained_range(t0, None)
    };
    assert!(read(&store, &other).await.is_empty());
    // Without retention, completing only forgets the container.
    let container = commit(&store, "c", &[item("z", 9)])
        .await
        .unwrap()
        .remove(0);
    let notification = Notification::build(&container, &serde_json::Map::new(), &[]);
    complete_unretained(&store, &notification).await;
    assert_eq!(
        (store.pending_count(), store.retained_count().await.unwrap()),
        (0, 3)
    );
}

async fn the_sweep_removes_only_what_each_destination_no_longer_keeps(store: Store) {
    let t0: DateTime<Utc> = "2026-11-26T10:00:00Z".parse().unwrap();
    for (i, dest) in ["d", "d", "e", "e"].into_iter().enumerate() {
        let container = commit(&store, "a", &[item(&format!("k{i}"), i as u64 + 1)])
            .await
            .unwrap()
            .remove(0);
        let notification = Notification::build(&container, &serde_json::Map::new(), &[]);
        let at = t0 + chrono::Duration::hours(i as i64 % 2);
        complete_retained(&store, &notification, dest, at).await;
    }
    // d keeps what was delivered from t0 + 30 min on; e keeps nothing. Whole segments go:
    // d's first, e's two.
    let half_hour = t0 + chrono::Duration::minutes(30);
    let removed = store
        .sweep_retained(Box::new(move |dest| {
            if dest == "d" {
                half_hour
            } else {
                t0 + chrono::Duration::days(1)
            }
        }))
        .await
        .unwrap();
    assert_eq!(removed.segments, 3);
    assert!(removed.bytes > 0);
    let left: Vec<u64> = read_retained(&store, &retained_range(t0, None))
        .await
        .iter()
        .map(|r| r.key.sequence)
        .collect();
    assert_eq!(left, [2]);
    assert_eq!(store.retained_count().await.unwrap(), 1);
}
