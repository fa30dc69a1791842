//! Dead letters: listed by filter in pages, retried to pending with their container, purged.

use super::*;

contract!(
    dead_letters_list_by_filter_in_pages,
    retry_puts_the_dead_letter_back_to_pending_with_its_id_and_sequence,
    retry_restores_the_container_whatever_format_the_body_was_sent_in,
    a_dead_letter_without_its_container_is_retried_from_its_standard_body,
    purge_deletes_one_dead_letter_or_every_matching_one,
);

/// The dead letter of `container`, refused by `destination`, with its standard body.
pub(crate) fn letter(container: &Container, destination: &str) -> DeadLetter {
    let notification = Notification::build(container, &serde_json::Map::new(), &[]);
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
            store.dead_letter(&letter(&container, dest)).await.unwrap();
        }
    }
}

async fn dead_letters_list_by_filter_in_pages(store: Store) {
    dead_letters_of_two_connections(&store, 5).await;
    let by_dest = DeadLetterFilter {
        destination: Some("e".into()),
        connection: None,
    };
    let first = store.dead_letter_page(&by_dest, None, 3).await.unwrap();
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
        .await
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
            .await
            .unwrap()
            .letters
            .len(),
        5
    );
    let of_a = async |after: &str| -> Vec<(String, u64)> {
        seqs(
            &store
                .dead_letter_page(&by_conn, Some(after), 2)
                .await
                .unwrap(),
        )
    };
    assert_eq!(of_a("a/3").await, [("a".into(), 4), ("a".into(), 5)]);
    assert!(
        of_a("b/1").await.is_empty(),
        "a position past the connection's range"
    );
    assert_eq!(
        of_a("0/1").await,
        [("a".into(), 1), ("a".into(), 2)],
        "one before it"
    );
    let every = store
        .dead_letter_page(&DeadLetterFilter::default(), Some("a/5"), 100)
        .await;
    assert_eq!(
        seqs(&every.unwrap()).len(),
        5,
        "connection b's, after a's last"
    );
}

async fn retry_puts_the_dead_letter_back_to_pending_with_its_id_and_sequence(store: Store) {
    let container = commit(&store, "a", &[item("x", 1), item("y", 2)])
        .await
        .unwrap()
        .remove(1);
    store.dead_letter(&letter(&container, "d")).await.unwrap();
    assert_eq!(store.pending("a", 0).count().await, 1);
    let selection = DeadLetterSelection::Id(container.notification_id.clone());
    let moved = store.retry_dead_letters(&selection).await.unwrap();
    assert_eq!(moved.len(), 1);
    assert!(store.dead_letters().await.unwrap().is_empty());
    let back: Vec<Container> = store.pending("a", 2).collect().await.unwrap();
    assert_eq!(
        back,
        vec![container],
        "the very container: id, sequence, change"
    );
    // A second retry finds nothing to move.
    assert!(store
        .retry_dead_letters(&selection)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(next_sequence(&store, "a").await, 3);
}

async fn retry_restores_the_container_whatever_format_the_body_was_sent_in(store: Store) {
    let container = commit(&store, "a", &[item("x", 1)])
        .await
        .unwrap()
        .remove(0);
    let bundle = DeadLetter {
        body: json!({"resourceType": "Bundle", "type": "subscription-notification"}),
        ..letter(&container, "d")
    };
    store.dead_letter(&bundle).await.unwrap();
    let all = DeadLetterSelection::Matching(DeadLetterFilter::default());
    assert_eq!(store.retry_dead_letters(&all).await.unwrap().len(), 1);
    let back: Vec<Container> = store.pending("a", 0).collect().await.unwrap();
    assert_eq!(back, vec![container]);
}

async fn a_dead_letter_without_its_container_is_retried_from_its_standard_body(store: Store) {
    // A dead letter written before containers were kept beside dead letters.
    let container = commit(&store, "a", &[item("x", 1)])
        .await
        .unwrap()
        .remove(0);
    let notification = Notification::build(&container, &serde_json::Map::new(), &[]);
    complete_unretained(&store, &notification).await;
    store.dead_letter(&letter(&container, "d")).await.unwrap();
    let all = DeadLetterSelection::Matching(DeadLetterFilter::default());
    assert_eq!(store.retry_dead_letters(&all).await.unwrap().len(), 1);
    let back = store.pending("a", 0).next().await.unwrap().unwrap();
    // The body carries `detected_at` to the millisecond, and so does the container.
    let detected_at = chrono::SubsecRound::trunc_subsecs(container.detected_at, 3);
    assert_eq!(
        back,
        Container {
            detected_at,
            ..container
        }
    );
}

async fn purge_deletes_one_dead_letter_or_every_matching_one(store: Store) {
    dead_letters_of_two_connections(&store, 3).await;
    let one = store
        .find_dead_letter(&notification_id("a", "k2", "2"))
        .await
        .unwrap();
    let one = one.expect("found by notification id");
    assert_eq!((one.connection.as_str(), one.sequence), ("a", 2));
    let purged = store
        .purge_dead_letters(&DeadLetterSelection::Id(one.notification_id.clone()))
        .await
        .unwrap();
    assert_eq!(purged, vec![one.clone()]);
    assert_eq!(
        store.find_dead_letter(&one.notification_id).await.unwrap(),
        None
    );
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
        .await
        .unwrap()
        .iter()
        .map(|l| l.sequence)
        .collect();
    assert_eq!(left, [1, 3], "only connection a's other letters remain");
    assert_eq!(
        store.pending("a", 0).count().await,
        0,
        "a purge never revives a container"
    );
}
