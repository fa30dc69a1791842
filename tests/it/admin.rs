//! The admin API as an operator meets it: health, readiness, status, metrics, control of a
//! connection, the bearer token, and configuration reloads.

use actix_web::http::StatusCode;
use courier::sim::SimEhrOptions;

use courier::status::ConnectionState;

use crate::support::admin::{call, get, post, start_admin};
use crate::support::app::{eventually, spawn_app, PATIENCE};

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
    let admin = start_admin(&test, Some("let-me-in"));
    for path in ["/healthz", "/status", "/metrics"] {
        let refused = get(&admin.url(), path).await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{path}");
        assert!(refused.json()["error"].as_str().unwrap().contains("Bearer"));
        let wrong = call(&admin.url(), "GET", path, Some("let-me-out")).await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{path}");
    }
    let allowed = call(&admin.url(), "GET", "/healthz", Some("let-me-in")).await;
    assert_eq!(allowed.status, StatusCode::OK);
}

#[actix_rt::test]
async fn a_paused_connection_stops_polling_until_resumed_and_unknown_ids_are_404() {
    let test = spawn_app(quiet_ehr(), |c| c.with("interval_secs", "0.02")).await;
    let admin = start_admin(&test, None);
    let url = admin.url();
    let paused = post(&url, "/connections/clinic-a/pause").await;
    assert_eq!(paused.status, StatusCode::OK, "{}", paused.text);
    assert_eq!(paused.json()["result"], "paused");
    eventually("status shows the pause", PATIENCE, || {
        test.connection("clinic-a").state == ConnectionState::Paused
    })
    .await;
    let polls = test.connection("clinic-a").polls_ok;
    actix_rt::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(
        test.connection("clinic-a").polls_ok,
        polls,
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
