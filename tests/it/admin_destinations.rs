//! Destinations under the admin API: pause and resume over HTTP, their state, reason and
//! backlog in `/status` and `/metrics`, how an operator's pause of a destination and of a
//! connection combine, and a destination's pause across a reload that changes its settings.

use actix_web::http::StatusCode;
use courier::admin::client::AdminClient;
use courier::status::{ConnectionState, DestinationState};
use courier_sim::SimEhrOptions;
use serde_json::json;

use crate::support::admin::{get, post, start_admin};
use crate::support::app::{config_text, eventually, spawn_app, ConnectionSpec, TestApp, PATIENCE};

fn quiet_ehr() -> SimEhrOptions {
    SimEhrOptions {
        initial_changes: 0,
        ..SimEhrOptions::default()
    }
}

/// A connection that polls only when asked (its interval is an hour).
async fn polled_on_demand() -> TestApp {
    let test = spawn_app(quiet_ehr(), |c| c.with("interval_secs", "3600")).await;
    eventually("the first poll", PATIENCE, || {
        test.connection("clinic-a").polls_ok > 0
    })
    .await;
    test
}

/// Makes `n` changes in the EHR and has the connection poll them now.
async fn changes_polled(test: &TestApp, url: &str, n: usize) {
    for _ in 0..n {
        test.ehr.touch_random();
    }
    let polled = post(url, "/connections/clinic-a/poll").await;
    assert_eq!(polled.status, StatusCode::OK, "{}", polled.text);
}

#[actix_rt::test]
async fn a_destination_paused_over_http_gets_nothing_while_polls_store_then_gets_all_on_resume() {
    let test = polled_on_demand().await;
    let admin = start_admin(&test, None);
    let url = admin.url();
    let paused = post(&url, "/destinations/app/pause").await;
    assert_eq!(paused.status, StatusCode::OK, "{}", paused.text);
    assert_eq!(
        paused.json(),
        json!({"destination": "app", "result": "paused"})
    );

    // Poll now while the destination is paused: the connection polls and stores.
    changes_polled(&test, &url, 5).await;
    eventually("5 containers stored", PATIENCE, || {
        test.destination().backlog == Some(5)
    })
    .await;
    let status = get(&url, "/status").await.json();
    let app = &status["destinations"]["app"];
    assert_eq!(app["state"], "paused", "{status}");
    assert_eq!(app["state_reason"], "paused by an operator");
    assert_eq!(app["backlog"], 5);
    assert!(
        app["oldest_pending_age_secs"].as_f64().is_some(),
        "{status}"
    );
    assert!(app["state_since"].is_string(), "{status}");
    assert_eq!(status["connections"]["clinic-a"]["backlog"], 5);
    let metrics = get(&url, "/metrics").await.text;
    let paused_line = r#"courier_destination_state{destination="app",state="paused"} 1"#;
    assert!(metrics.lines().any(|l| l == paused_line), "{metrics}");
    assert_eq!(
        test.receiver.unique_accepted_ids(),
        0,
        "nothing sent while paused"
    );
    // No replay goes to a paused destination either.
    let refused = AdminClient::new(&url, None)
        .post_json(
            "/replay",
            &json!({"destination": "app", "since": "2020-01-01T00:00:00Z"}),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("409") && refused.contains("paused"),
        "{refused}"
    );

    // The connection paused as well: resuming the destination still delivers what is stored.
    let conn_paused = post(&url, "/connections/clinic-a/pause").await;
    assert_eq!(conn_paused.status, StatusCode::OK, "{}", conn_paused.text);
    let resumed = post(&url, "/destinations/app/resume").await;
    assert_eq!(resumed.status, StatusCode::OK, "{}", resumed.text);
    assert_eq!(resumed.json()["result"], "resumed");
    eventually("the 5 stored notifications delivered", PATIENCE, || {
        test.receiver.unique_accepted_ids() == 5
    })
    .await;
    eventually("status: healthy, nothing pending", PATIENCE, || {
        let d = test.destination();
        d.state == DestinationState::Healthy && d.backlog == Some(0)
    })
    .await;
    assert_eq!(
        test.connection("clinic-a").state,
        ConnectionState::Paused,
        "the connection's own pause holds"
    );
    for action in ["pause", "resume"] {
        let unknown = post(&url, &format!("/destinations/nowhere/{action}")).await;
        assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.text);
        assert!(unknown.json()["error"]
            .as_str()
            .unwrap()
            .contains("nowhere"));
    }
}

#[actix_rt::test]
async fn a_paused_destination_stays_paused_across_a_reload_that_changes_it() {
    let test = polled_on_demand().await;
    let admin = start_admin(&test, None);
    let url = admin.url();
    assert_eq!(
        post(&url, "/destinations/app/pause").await.status,
        StatusCode::OK
    );

    // The destination's settings change: its connection restarts, its gate (and pause) stays.
    let spec = ConnectionSpec::new("clinic-a", &test.ehr).with("interval_secs", "3600");
    let store = test.config_path.parent().unwrap();
    let extra = "failure_threshold = 3\nconnect_timeout_ms = 1500\n";
    let text = config_text(store, &test.receiver.url(), extra, &[spec]);
    std::fs::write(&test.config_path, text).unwrap();
    let reloaded = post(&url, "/reload").await;
    assert_eq!(reloaded.status, StatusCode::OK, "{}", reloaded.text);
    assert_eq!(reloaded.json()["restarted"], json!(["clinic-a"]));
    eventually("the restarted connection polled", PATIENCE, || {
        test.connection("clinic-a").polls_ok > 0
    })
    .await;
    assert_eq!(test.destination().state, DestinationState::Paused);

    changes_polled(&test, &url, 3).await;
    eventually("3 containers stored", PATIENCE, || {
        test.destination().backlog == Some(3)
    })
    .await;
    assert_eq!(test.receiver.unique_accepted_ids(), 0, "still paused");
    // The restarted connection listens to the gate: a resume reaches it.
    assert_eq!(
        post(&url, "/destinations/app/resume").await.status,
        StatusCode::OK
    );
    eventually("the 3 stored notifications delivered", PATIENCE, || {
        test.receiver.unique_accepted_ids() == 3
    })
    .await;
}
