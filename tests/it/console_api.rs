//! The JSON the console reads: the overview of every connection and destination, a
//! connection's polls and notifications, a destination's attempts, the lookup of a
//! notification wherever it is, and the logged view of its body.

use actix_web::http::StatusCode;
use courier::app::AppOptions;
use courier::status::ConnectionState;
use courier_sim::SimEhrOptions;
use serde_json::Value;

use crate::support::admin::{get, post, start_admin};
use crate::support::app::{
    eventually, eventually_async, eventually_some, spawn_app, spawn_app_with, ConnectionSpec,
    TestApp, PATIENCE,
};
use crate::support::process::Rig;

fn quiet_ehr() -> SimEhrOptions {
    SimEhrOptions {
        initial_changes: 0,
        ..SimEhrOptions::default()
    }
}

/// One retry 50 ms after the first attempt, then the dead letters (see `dead_letters.rs`).
const SHORT_SCHEDULE: &str = "retry_schedule_secs = [0.05]\nfailure_threshold = 100000\n";

/// `GET path` answered 200, as JSON.
async fn json(url: &str, path: &str) -> Value {
    let answer = get(url, path).await;
    assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.text);
    answer.json()
}

/// `GET path` as JSON once `ready` holds of it.
async fn json_when(url: &str, path: &str, what: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let ready = &ready;
    eventually_some(what, PATIENCE, || async move {
        let value = json(url, path).await;
        ready(&value).then_some(value)
    })
    .await
}

fn ids(rows: &Value) -> Vec<&str> {
    let rows = rows.as_array().unwrap();
    rows.iter().map(|r| r["id"].as_str().unwrap()).collect()
}

#[actix_rt::test]
async fn the_overview_lists_every_connection_with_backlog_and_rate_in_pages_filtered_by_id_and_state(
) {
    let t = spawn_app_with(quiet_ehr(), AppOptions::default(), "", |ehr| {
        ["clinic-a", "clinic-b", "lab-c"]
            .map(|id| ConnectionSpec::new(id, ehr))
            .into()
    })
    .await;
    let admin = start_admin(&t, None);
    let url = admin.url();
    t.ehr.touch("appt-1");
    t.ehr.touch("appt-2");
    assert!(t.receiver.wait_for_accepted(6, PATIENCE).await);
    // A delivery reaches the total a moment before its row (see `Journal::rates`).
    let overview = json_when(&url, "/overview", "every delivery counted", |o| {
        let rows = o["connections"].as_array().unwrap();
        rows.len() == 3 && rows.iter().all(|row| row["delivered_per_min"] == 2)
    })
    .await;
    assert_eq!(overview["totals"]["delivered_per_min"], 6);
    let totals = &overview["totals"];
    assert_eq!(
        (totals["connections"].as_u64(), totals["matching"].as_u64()),
        (Some(3), Some(3))
    );
    assert_eq!(totals["destinations"], 1);
    assert!(overview["generated_at"].is_string() && overview["store"].is_object());
    assert_eq!(
        ids(&overview["connections"]),
        ["clinic-a", "clinic-b", "lab-c"]
    );
    for row in overview["connections"].as_array().unwrap() {
        assert_eq!(row["destination"], "app", "{row}");
        assert_eq!(row["delivered_per_min"], 2, "{row}");
        assert!(row["backlog"].is_u64() && row["lag_secs"].is_f64(), "{row}");
        assert!(row["changes"].as_u64() >= Some(2), "{row}");
    }
    let destination = &overview["destinations"][0];
    assert_eq!(
        (
            destination["id"].as_str(),
            destination["delivered_per_min"].as_u64()
        ),
        (Some("app"), Some(6))
    );
    assert_eq!(destination["state"], "healthy");

    let clinics = json(&url, "/overview?q=clinic&limit=1&offset=1").await;
    assert_eq!(clinics["totals"]["matching"], 2);
    assert_eq!(
        ids(&clinics["connections"]),
        ["clinic-b"],
        "the second page of one"
    );
    let paused = post(&url, "/connections/lab-c/pause").await;
    assert_eq!(paused.status, StatusCode::OK, "{}", paused.text);
    eventually("lab-c paused", PATIENCE, || {
        t.connection("lab-c").state == ConnectionState::Paused
    })
    .await;
    let only_paused = json(&url, "/overview?state=paused").await;
    assert_eq!(ids(&only_paused["connections"]), ["lab-c"]);
    assert_eq!(only_paused["totals"]["by_state"]["paused"], 1);
}

#[actix_rt::test]
async fn a_connection_page_shows_its_polls_and_delivered_notifications_with_event_types() {
    let t = spawn_app(quiet_ehr(), |c| c).await;
    let admin = start_admin(&t, None);
    let url = admin.url();
    t.ehr.touch("appt-1");
    t.ehr.touch("appt-2");
    assert!(t.receiver.wait_for_accepted(2, PATIENCE).await);
    let page = json_when(&url, "/connections/clinic-a", "both shown delivered", |p| {
        let shown = p["notifications"].as_array().unwrap().iter();
        // Completed containers leave the backlog a moment after their delivery.
        shown.filter(|n| n["outcome"] == "delivered").count() == 2 && p["backlog"] == 0
    })
    .await;
    assert_eq!(
        (page["id"].as_str(), page["destination"].as_str()),
        (Some("clinic-a"), Some("app"))
    );
    assert!(page["status"]["state"].is_string() && page["status"]["polls_ok"].as_u64() > Some(0));
    let polls = page["polls"].as_array().unwrap();
    assert!(!polls.is_empty() && polls.len() <= 20, "{polls:?}");
    assert!(polls
        .iter()
        .all(|p| p["outcome"] == "ok" && p["error"].is_null()));
    assert!(
        polls.iter().any(|p| p["changes"].as_u64() >= Some(1)),
        "{polls:?}"
    );
    let notifications = page["notifications"].as_array().unwrap();
    let keys: Vec<&str> = notifications
        .iter()
        .map(|n| n["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["appt-2", "appt-1"], "newest first");
    let accepted = t.receiver.accepted();
    for n in notifications {
        assert_eq!(n["event_type"], "appointment.updated");
        assert_eq!(
            (n["attempts"].as_u64(), n["last_status"].as_u64()),
            (Some(1), Some(200))
        );
        assert_eq!(n["destination"], "app");
        let sent = accepted
            .iter()
            .find(|r| r.json["id"] == n["id"])
            .expect("delivered");
        assert_eq!(sent.json["data"]["sequence"], n["sequence"]);
    }
    let unknown = get(&url, "/connections/nobody").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert!(unknown.json()["error"].is_string());
}

#[actix_rt::test]
async fn a_destination_page_shows_a_failed_attempt_then_the_delivery_with_status_codes() {
    let t = spawn_app(quiet_ehr(), |c| c).await;
    t.receiver.respond_with(vec![503]);
    let admin = start_admin(&t, None);
    let url = admin.url();
    t.ehr.touch("appt-1");
    assert!(t.receiver.wait_for_accepted(1, PATIENCE).await);
    let page = json_when(&url, "/destinations/app", "both attempts shown", |p| {
        p["attempts"].as_array().unwrap().len() == 2
    })
    .await;
    assert_eq!(page["status"]["delivered"], 1);
    assert_eq!(page["status"]["failed_attempts"], 1);
    let attempts = page["attempts"].as_array().unwrap();
    let shown: Vec<(Option<u64>, Option<&str>)> = attempts
        .iter()
        .map(|a| (a["status"].as_u64(), a["outcome"].as_str()))
        .collect();
    assert_eq!(
        shown,
        [(Some(200), Some("delivered")), (Some(503), Some("failed"))]
    );
    assert_eq!(
        attempts[0]["notification_id"],
        attempts[1]["notification_id"]
    );
    assert_eq!(
        (
            attempts[0]["connection"].as_str(),
            attempts[0]["sequence"].as_u64()
        ),
        (Some("clinic-a"), Some(1))
    );
    assert!(attempts[1]["error"].as_str().unwrap().contains("503"));
    assert!(attempts
        .iter()
        .all(|a| a["latency_ms"].is_u64() && a["at"].is_string()));
    assert_eq!(page["delivered_per_min"], 1);
    let unknown = get(&url, "/destinations/nowhere").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

/// The matches of a lookup.
async fn lookup(url: &str, query: &str) -> Vec<Value> {
    let found = json(url, &format!("/notifications?{query}")).await;
    found["matches"].as_array().unwrap().clone()
}

/// The matches of a lookup once each has its body held (a delivered notification is
/// retained when its completion is written, a moment after the receiver answered).
async fn held(url: &str, query: &str) -> Vec<Value> {
    let path = format!("/notifications?{query}");
    let found = json_when(url, &path, "bodies held", |found| {
        let matches = found["matches"].as_array().unwrap();
        !matches.is_empty() && matches.iter().all(|m| m["body_available"] == true)
    });
    found.await["matches"].as_array().unwrap().clone()
}

#[actix_rt::test]
async fn a_lookup_finds_a_delivered_and_a_dead_lettered_notification_by_id_key_and_sequence() {
    let t: TestApp = spawn_app_with(quiet_ehr(), AppOptions::default(), SHORT_SCHEDULE, |ehr| {
        vec![ConnectionSpec::new("clinic-a", ehr)]
    })
    .await;
    let admin = start_admin(&t, None);
    let url = admin.url();
    t.ehr.touch("appt-1");
    assert!(t.receiver.wait_for_accepted(1, PATIENCE).await);
    let delivered_id = t.receiver.accepted()[0].id.clone();
    t.receiver.always(400);
    t.ehr.touch("appt-2");
    eventually_async("the dead letter stored", PATIENCE, async || {
        t.app.store().dead_letters().await.unwrap().len() == 1
    })
    .await;

    let by_id = held(&url, &format!("id={delivered_id}")).await;
    assert_eq!(by_id.len(), 1, "{by_id:?}");
    let delivered = &by_id[0];
    assert_eq!(
        (
            delivered["found_in"].as_str(),
            delivered["body_available"].as_bool()
        ),
        (Some("retained"), Some(true))
    );
    assert_eq!(
        (delivered["outcome"].as_str(), delivered["key"].as_str()),
        (Some("delivered"), Some("appt-1"))
    );
    assert_eq!(delivered["event_type"], "appointment.updated");
    assert_eq!(
        (
            delivered["connection"].as_str(),
            delivered["sequence"].as_u64()
        ),
        (Some("clinic-a"), Some(1))
    );

    let by_key = lookup(&url, "key=appt-2").await;
    assert_eq!(by_key.len(), 1, "{by_key:?}");
    let dead = &by_key[0];
    assert_eq!(
        (dead["found_in"].as_str(), dead["outcome"].as_str()),
        (Some("dead_letters"), Some("dead_letter"))
    );
    assert_eq!(
        (dead["attempts"].as_u64(), dead["body_available"].as_bool()),
        (Some(2), Some(true))
    );
    let dead_id = dead["id"].as_str().unwrap();
    let by_sequence = lookup(&url, "connection=clinic-a&sequence=2").await;
    assert_eq!(by_sequence.len(), 1);
    assert_eq!(by_sequence[0]["id"], dead_id);
    assert!(lookup(&url, "key=appt-2&connection=other").await.is_empty());
    let bare = get(&url, "/notifications").await;
    assert_eq!(bare.status, StatusCode::BAD_REQUEST);

    let body = json(
        &url,
        &format!("/notifications/{dead_id}/body?connection=clinic-a&sequence=2"),
    )
    .await;
    assert_eq!(body["found_in"], "dead_letters");
    assert_eq!(body["body"]["data"]["key"], "appt-2");
    let path = format!("/notifications/{delivered_id}/body?connection=clinic-a&sequence=1");
    let body = json(&url, &path).await;
    assert_eq!(
        (body["found_in"].as_str(), body["body"]["id"].as_str()),
        (Some("retained"), Some(delivered_id.as_str()))
    );
    let missing = get(
        &url,
        &format!("/notifications/{dead_id}/body?connection=clinic-a&sequence=9"),
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.json()["error"]
        .as_str()
        .unwrap()
        .contains("rendered at delivery"));
    // Retried from the dead letters, it shows delivered with every attempt counted.
    t.receiver.always(200);
    let retried = post(&url, &format!("/dead-letters/{dead_id}/retry")).await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.text);
    let page = json_when(&url, "/connections/clinic-a", "the retry delivered", |p| {
        let shown = p["notifications"].as_array().unwrap();
        shown
            .iter()
            .any(|n| n["id"] == dead_id && n["outcome"] == "delivered")
    })
    .await;
    let shown = page["notifications"].as_array().unwrap();
    let again = shown.iter().find(|n| n["id"] == dead_id).unwrap();
    assert_eq!(
        (again["attempts"].as_u64(), again["last_status"].as_u64()),
        (Some(3), Some(200))
    );
}

/// Written into every patient's names and MRN by the simulated EHR.
const MARKER: &str = "ZqConsoleMarker9";

#[actix_rt::test]
async fn a_body_view_is_logged_with_its_viewer_and_never_the_body() {
    let mut rig = Rig::new(quiet_ehr(), "");
    rig.log_filter = "courier=info,warn";
    rig.ehr.mark_phi(MARKER);
    let courier = rig.start();
    let url = rig.admin_url().await;
    rig.ehr.touch("appt-1");
    assert!(rig.receiver.wait_for_accepted(1, PATIENCE).await);
    let id = rig.receiver.accepted()[0].id.clone();
    let found = held(&url, "key=appt-1&connection=clinic-a").await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        (
            found[0]["id"].as_str(),
            found[0]["body_available"].as_bool()
        ),
        (Some(id.as_str()), Some(true))
    );
    let path = format!("/notifications/{id}/body?connection=clinic-a&sequence=1");
    let body = json(&url, &path).await;
    assert!(
        body["body"].to_string().contains(MARKER),
        "the enriched body is shown"
    );
    let line = format!("body viewed: notif={id} conn=clinic-a seq=1 by loopback (from 127.0.0.1)");
    eventually("the view logged", PATIENCE, || {
        rig.log_text().contains(&line)
    })
    .await;
    courier.stop().await;
    let logs = rig.log_text();
    let marked: Vec<&str> = logs.lines().filter(|l| l.contains(MARKER)).collect();
    assert!(
        marked.is_empty(),
        "log lines with the body's patient data: {marked:#?}"
    );
}

#[actix_rt::test]
async fn the_overview_of_ten_thousand_connections_answers_one_page() {
    let t = spawn_app(quiet_ehr(), |c| c).await;
    let admin = start_admin(&t, None);
    crate::support::admin::crowd_board(t.app.board());
    let started = std::time::Instant::now();
    let page = json(&admin.url(), "/overview?limit=100").await;
    eprintln!(
        "GET /overview with 10,001 connections: {:?}",
        started.elapsed()
    );
    assert_eq!(page["totals"]["connections"], 10_001);
    let rows = page["connections"].as_array().unwrap();
    assert_eq!(rows.len(), 100, "one page");
    assert_eq!(rows[0]["id"], "bulk-04242", "trouble first");
    let found = json(&admin.url(), "/overview?q=bulk-0999&limit=500").await;
    assert_eq!(found["totals"]["matching"], 10);
}
