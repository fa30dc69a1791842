//! A destination's health as an operator sees it: a down destination is only probed while
//! its connection keeps polling and storing, and gets its whole backlog when it is back; a
//! `410 Gone` or an operator pauses it until it is resumed; nothing is lost or dead-lettered.

use courier::app::AppOptions;
use courier::app::UnknownDestination;
use courier::status::DestinationState;
use courier_sim::SimEhrOptions;

use crate::ordering::{assert_one_at_a_time_per_key, schedule};
use crate::support::app::{eventually, spawn_app_with, ConnectionSpec, TestApp, PATIENCE};
use crate::support::process::Rig;

fn ehr() -> SimEhrOptions {
    SimEhrOptions {
        patients: 4,
        appointments: 8,
        ..SimEhrOptions::default()
    }
}

fn touch(t: &TestApp, changes: usize) {
    for n in 0..changes {
        t.ehr.touch(&format!("appt-{}", n % 8 + 1));
    }
}

async fn wait_for_state(t: &TestApp, state: DestinationState) {
    eventually(&format!("destination {state:?}"), PATIENCE, || {
        t.destination().state == state
    })
    .await;
}

/// Waits until the connection stored `changes` changes in all and the destination's backlog
/// holds `backlog` of them.
async fn wait_for_stored(t: &TestApp, changes: u64, backlog: u64) {
    eventually(&format!("{changes} changes stored"), PATIENCE, || {
        t.connection("clinic-a").changes == changes && t.destination().backlog == Some(backlog)
    })
    .await;
}

/// Waits for `n` distinct notifications, then checks that the destination is healthy with
/// nothing pending, nothing was dead-lettered, and each record arrived in sequence order.
async fn assert_all_delivered_in_order(t: &TestApp, n: usize) {
    eventually(&format!("{n} notifications"), PATIENCE, || {
        t.receiver.unique_accepted_ids() == n
    })
    .await;
    eventually("an empty backlog", PATIENCE, || {
        t.destination().backlog == Some(0)
    })
    .await;
    let status = t.destination();
    assert_eq!(status.state, DestinationState::Healthy);
    assert_eq!(status.oldest_pending_age_secs, None);
    assert_eq!(t.app.store().dead_letters().await.unwrap(), vec![]);
    let by_key = assert_one_at_a_time_per_key(&t.receiver.received(), |r| {
        r.json["data"]["key"].as_str().unwrap().to_owned()
    });
    let mut sequences: Vec<u64> = by_key.into_values().flatten().collect();
    sequences.sort_unstable();
    assert_eq!(
        sequences,
        (1..=n as u64).collect::<Vec<_>>(),
        "gap-free, once each"
    );
}

#[actix_rt::test]
async fn a_destination_down_for_a_while_is_probed_then_gets_its_whole_backlog_in_order() {
    // Four in flight and three retries: without failing mode, 60 changes would be retried
    // to the end of their schedule and dead-lettered within a second.
    let extra = format!(
        "max_in_flight = 4\nfailure_threshold = 3\n{}",
        schedule(3, 0.05)
    );
    let t = spawn_app_with(ehr(), AppOptions::default(), &extra, |ehr| {
        vec![ConnectionSpec::new("clinic-a", ehr).with("page_size", "10")]
    })
    .await;
    t.receiver.always(503);
    touch(&t, 10);
    wait_for_state(&t, DestinationState::Failing).await;
    let status = t.destination();
    assert!(status.state_reason.unwrap().contains("503"));
    let attempts_when_failing = t.receiver.received().len();

    touch(&t, 60);
    wait_for_stored(&t, 70, 70).await;
    let status = t.destination();
    assert_eq!(status.state, DestinationState::Failing, "still down");
    assert!(status.oldest_pending_age_secs.is_some());
    let cursor = t.connection("clinic-a").cursor.unwrap();
    assert_eq!(cursor, "70", "the cursor advanced past every stored change");
    let probes = t.receiver.received().len() - attempts_when_failing;
    assert!(
        probes < 20,
        "{probes} attempts while failing: only a probe goes out"
    );
    assert!(t.app.store().dead_letters().await.unwrap().is_empty());

    t.receiver.always(200);
    assert_all_delivered_in_order(&t, 70).await;
}

#[actix_rt::test]
async fn gone_pauses_the_destination_until_an_operator_resumes_it_and_nothing_is_lost() {
    let t = spawn_app_with(ehr(), AppOptions::default(), &schedule(3, 0.05), |ehr| {
        vec![ConnectionSpec::new("clinic-a", ehr)]
    })
    .await;
    t.receiver.always(410);
    touch(&t, 5);
    wait_for_state(&t, DestinationState::Paused).await;
    let status = t.destination();
    assert_eq!(status.state_reason.as_deref(), Some("410 Gone"));
    assert!(status.state_since.is_some());

    touch(&t, 5);
    wait_for_stored(&t, 10, 10).await;
    let attempts = t.receiver.received().len();
    touch(&t, 2);
    wait_for_stored(&t, 12, 12).await;
    assert_eq!(
        t.receiver.received().len(),
        attempts,
        "no attempt while paused"
    );
    assert_eq!(t.destination().state, DestinationState::Paused);

    t.receiver.always(200);
    t.app.resume_destination("app").unwrap();
    assert_all_delivered_in_order(&t, 12).await;
}

#[actix_rt::test]
async fn an_operator_pauses_and_resumes_a_destination() {
    let t = spawn_app_with(ehr(), AppOptions::default(), "", |ehr| {
        vec![ConnectionSpec::new("clinic-a", ehr)]
    })
    .await;
    let unknown = Err(UnknownDestination("nope".into()));
    assert_eq!(t.app.pause_destination("nope"), unknown);
    assert_eq!(t.app.resume_destination("nope"), unknown);
    touch(&t, 3);
    eventually("3 notifications", PATIENCE, || {
        t.receiver.unique_accepted_ids() == 3
    })
    .await;

    t.app.pause_destination("app").unwrap();
    let status = t.destination();
    assert_eq!(status.state, DestinationState::Paused);
    assert_eq!(
        status.state_reason.as_deref(),
        Some("paused by an operator")
    );
    touch(&t, 4);
    wait_for_stored(&t, 7, 4).await;
    assert_eq!(t.receiver.received().len(), 3, "nothing sent while paused");

    t.app.resume_destination("app").unwrap();
    assert_all_delivered_in_order(&t, 7).await;
}

#[actix_rt::test]
async fn a_down_destination_logs_one_line_when_failing_and_one_when_healthy_never_per_retry() {
    let extra = format!("failure_threshold = 3\n{}", schedule(3, 0.05));
    let mut rig = Rig::new(ehr(), &extra);
    rig.log_filter = "info";
    rig.receiver.always(503);
    for n in 0..8 {
        rig.ehr.touch(&format!("appt-{}", n + 1));
    }
    let courier = rig.start();
    // Long enough for many probes (every 0.05 to 0.2 s).
    eventually("a dozen failed attempts", PATIENCE, || {
        rig.receiver.summary().failures >= 12
    })
    .await;
    rig.receiver.always(200);
    eventually("8 notifications", PATIENCE, || rig.delivered() == 8).await;
    courier.stop().await;

    let logs = rig.log_text();
    let lines = |needle: &str| logs.lines().filter(|l| l.contains(needle)).count();
    assert_eq!(lines("dest=app failing"), 1, "{logs}");
    assert_eq!(lines("dest=app healthy again"), 1, "{logs}");
    assert_eq!(lines("dest=app"), 2, "no line per retry:\n{logs}");
    assert!(!logs.contains("dead-lettered"));
}

#[actix_rt::test]
async fn probes_rotate_so_records_a_receiver_refuses_cannot_keep_the_destination_failing() {
    let extra = format!("failure_threshold = 2\n{}", schedule(100, 0.05));
    let t = spawn_app_with(ehr(), AppOptions::default(), &extra, |ehr| {
        vec![ConnectionSpec::new("clinic-a", ehr)]
    })
    .await;
    for key in ["appt-1", "appt-2"] {
        t.receiver.refuse_key(key, 500);
        t.ehr.touch(key);
    }
    wait_for_state(&t, DestinationState::Failing).await;
    // Stored while failing: only a probe can find out that the receiver takes these.
    t.ehr.touch("appt-3");
    t.ehr.touch("appt-4");
    eventually("appt-3 and appt-4 delivered", PATIENCE, || {
        t.receiver.unique_accepted_ids() == 2
    })
    .await;
    let refused: Vec<String> = t
        .receiver
        .received()
        .iter()
        .filter(|r| !r.accepted())
        .map(|r| r.json["data"]["key"].as_str().unwrap().to_owned())
        .collect();
    assert!(refused.iter().all(|key| key == "appt-1" || key == "appt-2"));
    assert!(t.app.store().dead_letters().await.unwrap().is_empty());
}

/// Starts one connection with `extra` destination settings and a receiver answering 503 to
/// everything.
async fn refusing_everything(extra: &str) -> TestApp {
    let t = spawn_app_with(ehr(), AppOptions::default(), extra, |ehr| {
        vec![ConnectionSpec::new("clinic-a", ehr)]
    })
    .await;
    t.receiver.always(503);
    t
}

/// Waits until the destination failed `attempts` attempts, checks that it is failing and
/// nothing was dead-lettered, then lets the receiver take everything.
async fn assert_held_while_down_then_delivered(t: &TestApp, attempts: usize, changes: usize) {
    wait_for_state(t, DestinationState::Failing).await;
    eventually("probes after the schedule ran out", PATIENCE, || {
        t.receiver.summary().failures >= attempts
    })
    .await;
    assert_eq!(t.destination().state, DestinationState::Failing);
    assert_eq!(t.destination().dead_lettered, 0);
    assert!(t.app.store().dead_letters().await.unwrap().is_empty());
    t.receiver.always(200);
    assert_all_delivered_in_order(t, changes).await;
}

#[actix_rt::test]
async fn a_lone_change_refused_with_503_to_the_end_of_its_schedule_makes_the_destination_failing_not_a_dead_letter(
) {
    // Retries of one notification count once towards the threshold: only the end of its
    // schedule, with nothing delivered meanwhile, can tell that the destination is down.
    let t = refusing_everything(&format!("failure_threshold = 5\n{}", schedule(3, 0.05))).await;
    t.ehr.touch("appt-1");
    // The first attempt and three retries, then probes.
    assert_held_while_down_then_delivered(&t, 4 + 3, 1).await;
}

#[actix_rt::test]
async fn one_busy_key_sent_one_at_a_time_to_a_down_destination_dead_letters_nothing() {
    let extra = format!(
        "max_in_flight = 1\nfailure_threshold = 5\n{}",
        schedule(3, 0.05)
    );
    let t = refusing_everything(&extra).await;
    for _ in 0..10 {
        t.ehr.touch("appt-1");
    }
    wait_for_stored(&t, 10, 10).await;
    assert_held_while_down_then_delivered(&t, 4 + 3, 10).await;
}

#[actix_rt::test]
async fn a_record_refused_with_503_while_sent_one_at_a_time_is_dead_lettered_once_others_get_through(
) {
    let extra = format!(
        "max_in_flight = 1\nfailure_threshold = 5\n{}",
        schedule(3, 0.05)
    );
    let t = spawn_app_with(ehr(), AppOptions::default(), &extra, |ehr| {
        vec![ConnectionSpec::new("clinic-a", ehr)]
    })
    .await;
    t.receiver.refuse_key("appt-1", 503);
    for key in ["appt-1", "appt-2", "appt-3"] {
        t.ehr.touch(key);
    }
    eventually("appt-1 dead-lettered", PATIENCE, || {
        t.destination().dead_lettered == 1
    })
    .await;
    eventually("the others delivered", PATIENCE, || {
        t.receiver.unique_accepted_ids() == 2
    })
    .await;
    let letters = t.app.store().dead_letters().await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].body["data"]["key"], "appt-1");
    assert_eq!(t.destination().state, DestinationState::Healthy);
}
