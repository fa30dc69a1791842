//! Unit tests of the store's invariants.

use super::*;
use crate::model::{notification_id, CursorValue};
use serde_json::json;

fn item(key: &str, seq: u64) -> ChangeItem {
    ChangeItem {
        key: key.into(),
        version: seq.to_string(),
        cursor: CursorValue(seq.to_string()),
        raw: json!({"id": key, "seq": seq}),
    }
}

async fn commit(
    store: &Store,
    conn: &str,
    items: &[ChangeItem],
) -> Result<Vec<Container>, StoreError> {
    let state = store.connection_state(conn, "0")?;
    let cursor = state.cursor.advanced_by(items, false);
    store
        .commit_page(conn, &state, items, cursor, "t", Utc::now())
        .await
}

#[actix_rt::test]
async fn commit_assigns_gap_free_sequences_and_moves_the_cursor() {
    let store = Store::temporary().unwrap();
    let first = commit(&store, "a", &[item("x", 1), item("y", 2)])
        .await
        .unwrap();
    let second = commit(&store, "a", &[item("z", 3)]).await.unwrap();
    let seqs: Vec<u64> = first.iter().chain(&second).map(|c| c.sequence).collect();
    assert_eq!(seqs, [1, 2, 3]);
    let state = store.connection_state("a", "0").unwrap();
    assert_eq!(state.cursor.value.as_str(), "3");
    assert_eq!(state.next_sequence, 4);
    // Another connection has its own numbering.
    assert_eq!(
        commit(&store, "b", &[item("x", 9)]).await.unwrap()[0].sequence,
        1
    );
}

#[actix_rt::test]
async fn cursor_does_not_advance_when_the_commit_conflicts() {
    let store = Store::temporary().unwrap();
    let stale = store.connection_state("a", "0").unwrap();
    commit(&store, "a", &[item("x", 1)]).await.unwrap();
    let cursor = stale.cursor.advanced_by(&[item("y", 2)], false);
    let err = store
        .commit_page("a", &stale, &[item("y", 2)], cursor, "t", Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)));
    let state = store.connection_state("a", "0").unwrap();
    assert_eq!(state.cursor.value.as_str(), "1");
    assert_eq!(
        store.pending("a", 0).count(),
        1,
        "the conflicting page wrote no container"
    );
}

#[actix_rt::test]
async fn pending_lists_one_connection_in_sequence_order_until_completed() {
    let store = Store::temporary().unwrap();
    let items: Vec<_> = (1..=300).map(|i| item(&format!("k{i}"), i)).collect();
    commit(&store, "a", &items).await.unwrap();
    commit(&store, "ab", &[item("other", 1)]).await.unwrap();
    let pending: Vec<Container> = store.pending("a", 0).map(Result::unwrap).collect();
    let seqs: Vec<u64> = pending.iter().map(|c| c.sequence).collect();
    assert_eq!(
        seqs,
        (1..=300).collect::<Vec<_>>(),
        "numeric order, not text order; no other connection"
    );
    let first = Notification::build(&pending[0], serde_json::Map::new(), &[]);
    store.complete(&first, None).unwrap();
    assert_eq!(store.pending("a", 0).next().unwrap().unwrap().sequence, 2);
    assert_eq!(store.pending("a", 250).count(), 51);
}

#[actix_rt::test]
async fn dead_letter_moves_the_container_out_of_pending() {
    let store = Store::temporary().unwrap();
    let container = commit(&store, "a", &[item("x", 1)])
        .await
        .unwrap()
        .remove(0);
    let letter = DeadLetter {
        notification_id: container.notification_id.clone(),
        connection: "a".into(),
        sequence: container.sequence,
        destination: "d".into(),
        reason: "retry schedule exhausted".into(),
        attempts: vec![],
        dead_at: Utc::now(),
        body: json!({}),
    };
    store.dead_letter(&letter).unwrap();
    assert_eq!(store.pending("a", 0).count(), 0);
    assert_eq!(store.dead_letters().unwrap(), vec![letter]);
}

#[actix_rt::test]
async fn state_survives_reopening_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        commit(&store, "a", &[item("x", 1), item("y", 2)])
            .await
            .unwrap();
    }
    // sled's background flusher lets go of the directory's lock a moment after the drop.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let store = loop {
        match Store::open(dir.path()) {
            Ok(store) => break store,
            Err(err) if std::time::Instant::now() < deadline => {
                let _ = err;
                actix_rt::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            Err(err) => panic!("the store does not reopen: {err}"),
        }
    };
    assert_eq!(store.connection_state("a", "0").unwrap().next_sequence, 3);
    assert_eq!(store.pending("a", 0).count(), 2);
}

fn letter(container: &Container, destination: &str) -> DeadLetter {
    let notification = Notification::build(container, serde_json::Map::new(), &[]);
    DeadLetter {
        notification_id: container.notification_id.clone(),
        connection: container.connection.clone(),
        sequence: container.sequence,
        destination: destination.into(),
        reason: "retry schedule exhausted".into(),
        attempts: vec![],
        dead_at: Utc::now(),
        body: serde_json::from_slice(&notification.body).unwrap(),
    }
}

/// Commits `n` changes on each connection and dead-letters them all, for destination `d`
/// on connection `a` and `e` on `b`.
async fn dead_letters_of_two_connections(store: &Store, n: u64) {
    for (conn, dest) in [("a", "d"), ("b", "e")] {
        let items: Vec<_> = (1..=n).map(|i| item(&format!("k{i}"), i)).collect();
        for container in commit(store, conn, &items).await.unwrap() {
            store.dead_letter(&letter(&container, dest)).unwrap();
        }
    }
}

#[actix_rt::test]
async fn dead_letters_list_by_filter_in_pages() {
    let store = Store::temporary().unwrap();
    dead_letters_of_two_connections(&store, 5).await;
    let by_dest = DeadLetterFilter {
        destination: Some("e".into()),
        connection: None,
    };
    let first = store.dead_letter_page(&by_dest, None, 3).unwrap();
    let seqs = |page: &DeadLetterPage| -> Vec<(String, u64)> {
        page.letters
            .iter()
            .map(|l| (l.connection.clone(), l.sequence))
            .collect()
    };
    assert_eq!(
        seqs(&first),
        [("b".into(), 1), ("b".into(), 2), ("b".into(), 3)]
    );
    assert_eq!(first.next.as_deref(), Some("b/3"));
    let second = store
        .dead_letter_page(&by_dest, first.next.as_deref(), 3)
        .unwrap();
    assert_eq!(seqs(&second), [("b".into(), 4), ("b".into(), 5)]);
    assert_eq!(second.next, None, "the last page says so");
    let by_conn = DeadLetterFilter {
        destination: None,
        connection: Some("a".into()),
    };
    assert_eq!(
        store
            .dead_letter_page(&by_conn, None, 100)
            .unwrap()
            .letters
            .len(),
        5
    );
    let of_a = |after: &str| -> Vec<(String, u64)> {
        seqs(&store.dead_letter_page(&by_conn, Some(after), 2).unwrap())
    };
    assert_eq!(of_a("a/3"), [("a".into(), 4), ("a".into(), 5)]);
    assert!(
        of_a("b/1").is_empty(),
        "a position past the connection's range"
    );
    assert_eq!(
        of_a("0/1"),
        [("a".into(), 1), ("a".into(), 2)],
        "one before it"
    );
    let every = store.dead_letter_page(&DeadLetterFilter::default(), Some("a/5"), 100);
    assert_eq!(
        seqs(&every.unwrap()).len(),
        5,
        "connection b's, after a's last"
    );
}

#[actix_rt::test]
async fn retry_puts_the_dead_letter_back_to_pending_with_its_id_and_sequence() {
    let store = Store::temporary().unwrap();
    let container = commit(&store, "a", &[item("x", 1), item("y", 2)])
        .await
        .unwrap()
        .remove(1);
    store.dead_letter(&letter(&container, "d")).unwrap();
    assert_eq!(store.pending("a", 0).count(), 1);
    let selection = DeadLetterSelection::Id(container.notification_id.clone());
    let moved = store.retry_dead_letters(&selection).await.unwrap();
    assert_eq!(moved.len(), 1);
    assert!(store.dead_letters().unwrap().is_empty());
    let back: Vec<Container> = store.pending("a", 2).map(Result::unwrap).collect();
    // The notification carries `detected_at` to the millisecond, and so does its container.
    let expected = Container {
        detected_at: chrono::SubsecRound::trunc_subsecs(container.detected_at, 3),
        ..container
    };
    assert_eq!(back, vec![expected], "the same id, sequence and change");
    // A second retry finds nothing to move.
    assert!(store
        .retry_dead_letters(&selection)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.connection_state("a", "0").unwrap().next_sequence, 3);
}

#[actix_rt::test]
async fn purge_deletes_one_dead_letter_or_every_matching_one() {
    let store = Store::temporary().unwrap();
    dead_letters_of_two_connections(&store, 3).await;
    let one = store
        .find_dead_letter(&notification_id("a", "k2", "2"))
        .unwrap();
    let one = one.expect("found by notification id");
    assert_eq!((one.connection.as_str(), one.sequence), ("a", 2));
    let purged = store
        .purge_dead_letters(&DeadLetterSelection::Id(one.notification_id.clone()))
        .await
        .unwrap();
    assert_eq!(purged, vec![one.clone()]);
    assert_eq!(store.find_dead_letter(&one.notification_id).unwrap(), None);
    let of_b = DeadLetterFilter {
        destination: None,
        connection: Some("b".into()),
    };
    let purged = store
        .purge_dead_letters(&DeadLetterSelection::Matching(of_b))
        .await
        .unwrap();
    assert_eq!(purged.len(), 3);
    let left: Vec<u64> = store
        .dead_letters()
        .unwrap()
        .iter()
        .map(|l| l.sequence)
        .collect();
    assert_eq!(left, [1, 3], "only connection a's other letters remain");
    assert_eq!(
        store.pending("a", 0).count(),
        0,
        "a purge never revives a container"
    );
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
