//! The admin API as an operator meets it: health, readiness, status, metrics, control of a
//! connection, the bearer token, and configuration reloads.

use std::time::Duration;

use actix_web::http::StatusCode;
use courier::app::AppOptions;
use courier_sim::{Route, SimEhrOptions};

use courier::status::ConnectionState;

use crate::support::admin::{call, get, post, start_admin};
use crate::support::app::{eventually, spawn_app, spawn_app_with, ConnectionSpec, PATIENCE};
use crate::support::periods::Metronome;

fn quiet_ehr() -> SimEhrOptions {
    SimEhrOptions {
        initial_changes: 0,
        ..SimEhrOptions::default()
    }
}

#[actix_rt::test]
async fn healthz_answers_and_readyz_reports_every_connection_running() {
    let test = spawn_app(quiet_ehr(), |c| c).await;
    let admin = start_admin(&test, None);
    let health = get(&admin.url(), "/healthz").await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.json()["status"], "ok");
    eventually("the connection polled once", PATIENCE, || {
        test.connection("clinic-a").polls_ok > 0
    })
    .await;
    let ready = get(&admin.url(), "/readyz").await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.text);
    assert_eq!(ready.json()["ready"], true);
    let missing = get(&admin.url(), "/nothing-here").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.json()["error"].is_string());
}

#[actix_rt::test]
async fn a_configured_token_is_required_on_every_route() {
    let test = spawn_app(quiet_ehr(), |c| c).await;
    let admin = start_admin(&test, Some("let-me-in-please-0123"));
    for path in ["/healthz", "/status", "/metrics"] {
        let refused = get(&admin.url(), path).await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{path}");
        assert!(refused.json()["error"].as_str().unwrap().contains("Bearer"));
        let wrong = call(&admin.url(), "GET", path, Some("let-me-out-please-0123")).await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{path}");
    }
    let allowed = call(
        &admin.url(),
        "GET",
        "/healthz",
        Some("let-me-in-please-0123"),
    )
    .await;
    assert_eq!(allowed.status, StatusCode::OK);
}

#[actix_rt::test]
async fn a_paused_connection_stops_polling_until_resumed_and_unknown_ids_are_404() {
    // Keeps time while clinic-a is paused (its own polls would not).
    let metronome = Metronome::start();
    let test = spawn_app_with(quiet_ehr(), AppOptions::default(), "", |ehr| {
        let clinic = ConnectionSpec::new("clinic-a", ehr).with("interval_secs", "0.05");
        vec![clinic, metronome.connection()]
    })
    .await;
    let admin = start_admin(&test, None);
    let url = admin.url();
    let paused = post(&url, "/connections/clinic-a/pause").await;
    assert_eq!(paused.status, StatusCode::OK, "{}", paused.text);
    assert_eq!(paused.json()["result"], "paused");
    eventually("status shows the pause", PATIENCE, || {
        test.connection("clinic-a").state == ConnectionState::Paused
    })
    .await;
    // A poll under way when the pause was answered may still finish; none starts after.
    metronome.through(Duration::from_millis(100)).await;
    let (polls, requests) = (
        test.connection("clinic-a").polls_ok,
        test.ehr.requests(Route::Feed),
    );
    metronome.through(Duration::from_millis(200)).await;
    assert_eq!(
        test.ehr.requests(Route::Feed),
        requests,
        "no poll while paused"
    );
    let status = get(&url, "/status").await.json();
    assert_eq!(status["connections"]["clinic-a"]["state"], "paused");
    let refused = post(&url, "/connections/clinic-a/poll").await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.text);

    let resumed = post(&url, "/connections/clinic-a/resume").await;
    assert_eq!(resumed.json()["result"], "resumed");
    eventually("polling again", PATIENCE, || {
        test.connection("clinic-a").polls_ok > polls + 2
    })
    .await;
    for path in ["/connections/nope/poll", "/connections/nope/pause"] {
        let unknown = post(&url, path).await;
        assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(unknown.json()["error"], "no connection \"nope\"");
    }
}

#[actix_rt::test]
async fn poll_now_polls_a_connection_whose_interval_is_long() {
    let test = spawn_app(quiet_ehr(), |c| c.with("interval_secs", "3600")).await;
    let admin = start_admin(&test, None);
    eventually("the first poll", PATIENCE, || {
        test.connection("clinic-a").polls_ok == 1
    })
    .await;
    test.ehr.touch("appt-3");
    let answer = post(&admin.url(), "/connections/clinic-a/poll").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    eventually("the change delivered after poll now", PATIENCE, || {
        test.receiver.unique_accepted_ids() == 1
    })
    .await;
    assert_eq!(test.connection("clinic-a").polls_ok, 2);
}

/// The samples of a Prometheus text exposition, by `name{labels}` as written.
fn samples(text: &str) -> std::collections::BTreeMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("a sample line");
            (series.to_owned(), value.parse().expect("a number"))
        })
        .collect()
}

#[actix_rt::test]
async fn metrics_and_status_report_the_traffic_the_receiver_saw() {
    let test = spawn_app(quiet_ehr(), |c| c).await;
    let admin = start_admin(&test, None);
    test.receiver.respond_with(vec![503]);
    for n in 1..=6 {
        test.ehr.touch(&format!("appt-{n}"));
    }
    eventually("six notifications", PATIENCE, || {
        test.receiver.unique_accepted_ids() == 6
    })
    .await;
    eventually("nothing pending", PATIENCE, || {
        test.app.store().pending_count() == 0
    })
    .await;

    let answer = get(&admin.url(), "/metrics").await;
    assert_eq!(answer.status, StatusCode::OK);
    let metrics = samples(&answer.text);
    let value = |series: &str| {
        *metrics
            .get(series)
            .unwrap_or_else(|| panic!("no {series} in:\n{}", answer.text))
    };
    let received = test.receiver.unique_accepted_ids() as f64;
    assert_eq!(
        value("courier_notifications_delivered_total{destination=\"app\"}"),
        received
    );
    assert_eq!(value("courier_changes_total{connection=\"clinic-a\"}"), 6.0);
    assert_eq!(
        value("courier_delivery_attempts_total{destination=\"app\",class=\"2xx\"}"),
        received
    );
    assert_eq!(
        value("courier_delivery_attempts_total{destination=\"app\",class=\"5xx\"}"),
        1.0
    );
    assert_eq!(
        value("courier_delivery_latency_seconds_count{destination=\"app\"}"),
        received + 1.0
    );
    assert_eq!(
        value("courier_containers_pending{connection=\"clinic-a\"}"),
        0.0
    );
    assert_eq!(
        value("courier_notifications_dead_lettered_total{destination=\"app\"}"),
        0.0
    );
    let polls = value("courier_polls_total{connection=\"clinic-a\",outcome=\"ok\"}");
    assert!(polls >= 1.0);
    // Every poll and two detail requests per change went to the EHR.
    let requests = value("courier_ehr_request_seconds_count{connection=\"clinic-a\"}");
    assert!(
        requests >= polls + 12.0,
        "{requests} requests for {polls} polls"
    );
    assert!(value("courier_last_successful_poll_age_seconds{connection=\"clinic-a\"}") < 5.0);

    let status = get(&admin.url(), "/status").await.json();
    let a = &status["connections"]["clinic-a"];
    assert_eq!(a["backlog"], 0);
    assert_eq!(a["changes"], 6);
    assert!(
        a["cursor"].is_string() && a["last_success"].is_string(),
        "{a}"
    );
    assert!(
        ["idle", "polling"].contains(&a["state"].as_str().unwrap()),
        "{a}"
    );
    assert_eq!(status["destinations"]["app"]["delivered"], 6);
    assert_eq!(status["destinations"]["app"]["failed_attempts"], 1);
}

#[actix_rt::test]
async fn a_paused_connection_still_delivers_what_it_already_stored() {
    let test = spawn_app(quiet_ehr(), |c| c).await;
    let admin = start_admin(&test, None);
    test.receiver.always(503);
    for n in 1..=3 {
        test.ehr.touch(&format!("appt-{n}"));
    }
    eventually("three changes stored", PATIENCE, || {
        test.connection("clinic-a").changes == 3
    })
    .await;
    let paused = post(&admin.url(), "/connections/clinic-a/pause").await;
    assert_eq!(paused.json()["result"], "paused");
    test.receiver.always(200);
    eventually(
        "the stored changes delivered while paused",
        PATIENCE,
        || test.receiver.unique_accepted_ids() == 3,
    )
    .await;
    assert_eq!(test.connection("clinic-a").state, ConnectionState::Paused);
    assert_eq!(test.app.status().destinations["app"].dead_lettered, 0);
}
