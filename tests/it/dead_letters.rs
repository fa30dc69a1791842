//! Dead letters an operator acts on: a notification the receiver refused until its retry
//! schedule ran out comes back, after a retry, with its original id and sequence; a purge
//! deletes dead letters for good.

use courier::model::DeadLetter;
use courier::sim::SimEhrOptions;
use courier::store::{DeadLetterFilter, DeadLetterSelection};

use crate::support::app::{eventually, spawn_app_with, TestApp, PATIENCE};

/// One retry 50 ms after the first attempt, then the dead letters.
const SHORT_SCHEDULE: &str = "retry_schedule_secs = [0.05]\n";

/// Courier whose receiver refuses everything permanently (400), with the short schedule.
async fn refusing_receiver() -> TestApp {
    let t = spawn_app_with(SimEhrOptions::default(), SHORT_SCHEDULE, |ehr| {
        vec![crate::support::app::ConnectionSpec::new("clinic-a", ehr)]
    })
    .await;
    t.receiver.always(400);
    t
}

/// Waits until `n` dead letters exist, and returns them.
async fn dead_letters(t: &TestApp, n: usize) -> Vec<DeadLetter> {
    let every = DeadLetterFilter::default();
    eventually(&format!("{n} dead letters"), PATIENCE, || {
        t.app
            .dead_letter_page(&every, None, 100)
            .unwrap()
            .letters
            .len()
            == n
    })
    .await;
    t.app.dead_letter_page(&every, None, 100).unwrap().letters
}

#[actix_rt::test]
async fn a_retried_dead_letter_is_delivered_with_its_original_id_and_sequence() {
    let t = refusing_receiver().await;
    t.ehr.touch("appt-1");
    t.ehr.touch("appt-2");
    let letters = dead_letters(&t, 2).await;
    let letter = letters
        .iter()
        .find(|l| l.body["data"]["key"] == "appt-2")
        .unwrap();
    assert_eq!(letter.attempts.len(), 2, "the first attempt and one retry");
    assert_eq!(letter.attempts[0].status, Some(400));
    assert_eq!(t.receiver.accepted().len(), 0);

    t.receiver.always(200);
    let outcome = t
        .app
        .retry_dead_letters(&DeadLetterSelection::Id(letter.notification_id.clone()))
        .await
        .unwrap();
    assert_eq!(outcome.retried, 1);
    assert!(outcome.waiting.is_empty(), "clinic-a is running");
    assert!(t.receiver.wait_for_accepted(1, PATIENCE).await);
    let received = &t.receiver.accepted()[0];
    assert_eq!(
        received.id, letter.notification_id,
        "the original webhook-id"
    );
    assert_eq!(received.json["id"], letter.notification_id.as_str());
    assert_eq!(received.json["data"]["sequence"], letter.sequence);
    assert_eq!(received.json["data"]["key"], "appt-2");
    assert!(received.verified);
    // The other dead letter stays where it was; the retried one left the dead letters.
    let left = dead_letters(&t, 1).await;
    assert_eq!(left[0].body["data"]["key"], "appt-1");
    eventually("the delivered container leaves the store", PATIENCE, || {
        t.app.store().pending_count() == 0
    })
    .await;
    assert_eq!(t.receiver.accepted().len(), 1, "nothing else was sent");
}

#[actix_rt::test]
async fn retrying_by_destination_resends_every_dead_letter_of_that_destination() {
    let t = refusing_receiver().await;
    for id in ["appt-1", "appt-2", "appt-3"] {
        t.ehr.touch(id);
    }
    let letters = dead_letters(&t, 3).await;
    t.receiver.always(200);
    let unknown = DeadLetterSelection::Matching(DeadLetterFilter {
        destination: Some("elsewhere".into()),
        connection: None,
    });
    assert_eq!(t.app.retry_dead_letters(&unknown).await.unwrap().retried, 0);
    let of_app = DeadLetterSelection::Matching(DeadLetterFilter {
        destination: Some("app".into()),
        connection: None,
    });
    assert_eq!(t.app.retry_dead_letters(&of_app).await.unwrap().retried, 3);
    assert!(t.receiver.wait_for_distinct(3, PATIENCE).await);
    let mut sent: Vec<(String, u64)> = letters
        .iter()
        .map(|l| (l.notification_id.clone(), l.sequence))
        .collect();
    let mut received: Vec<(String, u64)> = t
        .receiver
        .accepted()
        .iter()
        .map(|r| (r.id.clone(), r.json["data"]["sequence"].as_u64().unwrap()))
        .collect();
    sent.sort();
    received.sort();
    assert_eq!(received, sent, "the same ids with the same sequences");
    dead_letters(&t, 0).await;
}

#[actix_rt::test]
async fn a_purged_dead_letter_is_gone_and_never_sent() {
    let t = refusing_receiver().await;
    for id in ["appt-1", "appt-2", "appt-3"] {
        t.ehr.touch(id);
    }
    let letters = dead_letters(&t, 3).await;
    let first = letters[0].notification_id.clone();
    let purged = t
        .app
        .purge_dead_letters(&DeadLetterSelection::Id(first.clone()))
        .await
        .unwrap();
    assert_eq!((purged.purged, purged.ids), (1, vec![first.clone()]));
    assert_eq!(t.app.dead_letter(&first).unwrap(), None);
    let all = DeadLetterSelection::Matching(DeadLetterFilter {
        destination: None,
        connection: Some("clinic-a".into()),
    });
    assert_eq!(t.app.purge_dead_letters(&all).await.unwrap().purged, 2);
    dead_letters(&t, 0).await;
    // Nothing comes back: a retry finds nothing, and the receiver gets nothing more.
    t.receiver.always(200);
    let every = DeadLetterSelection::Matching(DeadLetterFilter::default());
    assert_eq!(t.app.retry_dead_letters(&every).await.unwrap().retried, 0);
    t.ehr.touch("appt-4");
    assert!(t.receiver.wait_for_accepted(1, PATIENCE).await);
    let accepted = t.receiver.accepted();
    assert_eq!(accepted.len(), 1);
    assert_eq!(
        accepted[0].json["data"]["key"], "appt-4",
        "only the new change"
    );
}
