//! Reloading a running Courier through `POST /reload`: connections added and removed while
//! an untouched one keeps its actor and its cadence; an invalid file changes nothing.

use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use courier::app::AppOptions;
use courier_sim::{Route, SimEhr, SimEhrOptions};

use crate::support::admin::{post, start_admin};
use crate::support::app::{
    config_text, eventually, spawn_app, spawn_app_with, ConnectionSpec, TestApp, PATIENCE,
};
use crate::support::periods::{settled, Metronome, PollTimes};

/// Rewrites the test's configuration file with `connections`.
fn rewrite(test: &TestApp, connections: &[ConnectionSpec]) {
    let store = test.config_path.parent().unwrap();
    let text = config_text(store, &test.receiver.url(), "", connections);
    std::fs::write(&test.config_path, text).unwrap();
}

#[actix_rt::test]
async fn reload_adds_and_removes_a_connection_while_another_keeps_its_cadence() {
    let test = spawn_app(SimEhrOptions::default(), |c| c).await;
    let admin = start_admin(&test, None);
    let times = PollTimes::record(&test.ehr);
    let second = SimEhr::start(SimEhrOptions {
        initial_changes: 4,
        ..SimEhrOptions::default()
    })
    .unwrap();
    eventually("clinic-a polling", PATIENCE, || {
        test.connection("clinic-a").polls_ok > 3
    })
    .await;

    rewrite(
        &test,
        &[
            ConnectionSpec::new("clinic-a", &test.ehr),
            ConnectionSpec::new("clinic-b", &second),
        ],
    );
    let added = post(&admin.url(), "/reload").await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.text);
    let report = added.json();
    assert_eq!(report["added"], serde_json::json!(["clinic-b"]));
    assert_eq!(report["unchanged"], serde_json::json!(["clinic-a"]));
    eventually("clinic-b's backlog delivered", PATIENCE, || {
        test.receiver.unique_accepted_ids() == 4
    })
    .await;

    rewrite(&test, &[ConnectionSpec::new("clinic-a", &test.ehr)]);
    let removed = post(&admin.url(), "/reload").await.json();
    assert_eq!(removed["removed"], serde_json::json!(["clinic-b"]));
    eventually("clinic-b gone from status", PATIENCE, || {
        !test.app.status().connections.contains_key("clinic-b")
    })
    .await;
    // While clinic-a polls on through 300 ms, clinic-b polls no more.
    let polls_of_b = second.control().requests(Route::Feed);
    times
        .past(Instant::now() + Duration::from_millis(300))
        .await;
    assert_eq!(
        second.control().requests(Route::Feed),
        polls_of_b,
        "clinic-b still polls"
    );

    // clinic-a kept its actor (no restart, the first generation) and its pace throughout.
    let a = test.connection("clinic-a");
    assert_eq!(a.restarts, 0);
    let times = times.times();
    let widest = times
        .windows(2)
        .map(|pair| pair[1] - pair[0])
        .max()
        .unwrap();
    assert!(times.len() > 6, "{} polls", times.len());
    assert!(
        widest < Duration::from_millis(400),
        "clinic-a paused for {widest:?} between polls (interval 50 ms)"
    );
}

#[actix_rt::test]
async fn an_invalid_reload_is_refused_with_checks_messages_and_the_old_config_runs_on() {
    let test = spawn_app(SimEhrOptions::default(), |c| c).await;
    let admin = start_admin(&test, None);
    let good = std::fs::read_to_string(&test.config_path).unwrap();
    let broken = good.replace("destination = \"app\"", "destination = \"apps\"");
    std::fs::write(&test.config_path, &broken).unwrap();
    let refused = post(&admin.url(), "/reload").await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.text
    );
    let problems = refused.json()["problems"].clone();
    let line = broken
        .lines()
        .position(|l| l == "destination = \"apps\"")
        .unwrap()
        + 1;
    assert_eq!(
        problems,
        serde_json::json!([format!(
            "{}:{line}: connections.clinic-a.destination: unknown destination \"apps\" (defined: app)",
            test.config_path.display()
        )])
    );
    // Still running the old configuration: a change is delivered.
    test.ehr.touch("appt-2");
    eventually("the change delivered", PATIENCE, || {
        test.receiver.unique_accepted_ids() == 1
    })
    .await;

    let moved = good.replacen(
        &format!(
            "path = {:?}",
            test.config_path.parent().unwrap().display().to_string()
        ),
        "path = \"/elsewhere\"",
        1,
    );
    assert_ne!(moved, good);
    std::fs::write(&test.config_path, &moved).unwrap();
    let refused = post(&admin.url(), "/reload").await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.text
    );
    let message = refused.json()["error"].as_str().unwrap().to_owned();
    assert!(message.contains("the store cannot change"), "{message}");
    assert!(message.contains("store.path"), "{message}");
    assert!(test.app.status().connections.contains_key("clinic-a"));
}

#[actix_rt::test]
async fn reload_restarts_a_connection_whose_settings_or_destination_changed() {
    // Keeps time while clinic-a is paused (its own polls would not).
    let metronome = Metronome::start();
    let test = spawn_app_with(SimEhrOptions::default(), AppOptions::default(), "", |ehr| {
        vec![ConnectionSpec::new("clinic-a", ehr), metronome.connection()]
    })
    .await;
    let admin = start_admin(&test, None);
    eventually("clinic-a polling", PATIENCE, || {
        test.connection("clinic-a").polls_ok > 0
    })
    .await;
    let store = test.config_path.parent().unwrap();
    let connection = || ConnectionSpec::new("clinic-a", &test.ehr);

    // Paused, so a poll would show that an actor started afresh: neither an unchanged
    // connection nor a restarted one polls until resumed.
    post(&admin.url(), "/connections/clinic-a/pause").await;
    let polls = || test.ehr.requests(Route::Feed);
    let same = post(&admin.url(), "/reload").await.json();
    let both = serde_json::json!(["clinic-a", Metronome::ID]);
    assert_eq!(same["unchanged"], both, "{same}");

    let text = config_text(
        store,
        &test.receiver.url(),
        "max_in_flight = 8",
        &[connection(), metronome.connection()],
    );
    std::fs::write(&test.config_path, text).unwrap();
    let before = polls();
    let destination_changed = post(&admin.url(), "/reload").await.json();
    assert_eq!(destination_changed["restarted"], both);
    metronome.through(Duration::from_millis(300)).await;
    assert_eq!(
        polls(),
        before,
        "a paused connection polled after its restart"
    );
    assert_eq!(
        test.connection("clinic-a").state,
        courier::status::ConnectionState::Paused
    );
    post(&admin.url(), "/connections/clinic-a/resume").await;

    let slower = connection().with("interval_secs", "0.08");
    let connections = [slower, metronome.connection()];
    let text = config_text(
        store,
        &test.receiver.url(),
        "max_in_flight = 8",
        &connections,
    );
    std::fs::write(&test.config_path, text).unwrap();
    let connection_changed = post(&admin.url(), "/reload").await.json();
    assert_eq!(
        connection_changed["restarted"],
        serde_json::json!(["clinic-a"])
    );

    // The restarted connection carries on from its stored cursor: one change, one delivery.
    test.ehr.touch("appt-5");
    eventually("the change delivered", PATIENCE, || {
        test.receiver.unique_accepted_ids() == 1
    })
    .await;
    settled(&test.app, "clinic-a", 3).await;
    assert_eq!(test.receiver.summary().delivered, 1);
    assert!(test.app.status().connections["clinic-a"].polls_ok > 0);
}

/// Waits until status shows `changes` changes for clinic-b.
async fn changes_of_b(test: &TestApp, changes: u64) {
    eventually(&format!("clinic-b's {changes} changes"), PATIENCE, || {
        let status = test.app.status();
        status
            .connections
            .get("clinic-b")
            .is_some_and(|b| b.changes == changes)
    })
    .await;
}

#[actix_rt::test]
async fn a_connection_removed_and_added_back_by_reloads_keeps_counting_its_changes() {
    let test = spawn_app(SimEhrOptions::default(), |c| c).await;
    let admin = start_admin(&test, None);
    let second = SimEhr::start(SimEhrOptions {
        initial_changes: 4,
        ..SimEhrOptions::default()
    })
    .unwrap();
    let both = [
        ConnectionSpec::new("clinic-a", &test.ehr),
        ConnectionSpec::new("clinic-b", &second),
    ];
    rewrite(&test, &both);
    assert_eq!(
        post(&admin.url(), "/reload").await.json()["added"],
        serde_json::json!(["clinic-b"])
    );
    changes_of_b(&test, 4).await;
    rewrite(&test, &both[..1]);
    assert_eq!(
        post(&admin.url(), "/reload").await.json()["removed"],
        serde_json::json!(["clinic-b"])
    );
    eventually("clinic-b gone from status", PATIENCE, || {
        !test.app.status().connections.contains_key("clinic-b")
    })
    .await;

    rewrite(&test, &both);
    assert_eq!(
        post(&admin.url(), "/reload").await.json()["added"],
        serde_json::json!(["clinic-b"])
    );
    second.control().touch("appt-1");
    // Counters never go backwards within a process: 4 before, 1 more since.
    changes_of_b(&test, 5).await;
}
