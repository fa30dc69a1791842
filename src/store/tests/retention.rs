//! Delivered notifications retained for replay: kept by complete(), read by range, swept.

use super::*;

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
        let notification = Notification::build(&container, serde_json::Map::new(), &[]);
        let at = t0 + chrono::Duration::minutes(i as i64);
        let retain = Retain {
            destination: "d",
            delivered_at: at,
        };
        store.complete(&notification, Some(retain)).unwrap();
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
    let notification = Notification::build(&container, serde_json::Map::new(), &[]);
    store.complete(&notification, None).unwrap();
    assert_eq!((store.pending_count(), store.retained_count()), (0, 3));
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
        let notification = Notification::build(&container, serde_json::Map::new(), &[]);
        let at = t0 + chrono::Duration::hours(i as i64 % 2);
        let retain = Retain {
            destination: dest,
            delivered_at: at,
        };
        store.complete(&notification, Some(retain)).unwrap();
    }
    // d keeps what was delivered from t0 + 30 min on; e keeps nothing.
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
    assert_eq!(removed, 3);
    let left: Vec<u64> = store
        .retained(&retained_range(t0, None))
        .map(|r| r.unwrap().key.sequence)
        .collect();
    assert_eq!(left, [2]);
    assert_eq!(store.retained_count(), 1);
}
