//! Replay as an operator runs it (admin API and `courier replay`): retained notifications go
//! to the destination again with their original ids and exact bodies, only those the time
//! range and connection select, and none once their retention ran out.

use std::collections::BTreeSet;

use actix_web::http::StatusCode;
use chrono::{DateTime, Utc};
use courier::admin::AdminServer;
use courier::app::AppOptions;
use courier::clock::{Clock, ManualClock};
use courier_sim::{Received, SimEhrOptions};
use serde_json::{json, Value};

use crate::support::admin::{courier_cli, get, start_admin};
use crate::support::app::{
    eventually, eventually_async, eventually_some, spawn_app_with, ConnectionSpec, TestApp,
    PATIENCE,
};

/// Courier with connections `clinic-a` and `clinic-b` on one EHR (each change is notified
/// by both), destination lines `destination_extra`, and its admin API.
async fn two_connections(destination_extra: &str) -> (TestApp, AdminServer) {
    two_connections_by(destination_extra, Clock::system()).await
}

/// [`two_connections`], with Courier reading the time from `clock`.
async fn two_connections_by(destination_extra: &str, clock: Clock) -> (TestApp, AdminServer) {
    let t = spawn_app_with(
        SimEhrOptions::default(),
        AppOptions { clock },
        destination_extra,
        |ehr| {
            vec![
                ConnectionSpec::new("clinic-a", ehr),
                ConnectionSpec::new("clinic-b", ehr),
            ]
        },
    )
    .await;
    let admin = start_admin(&t, None);
    (t, admin)
}

/// Touches `records` and waits until both connections' notifications are delivered and
/// their containers completed (so retained), `total` notifications in all.
async fn deliver(t: &TestApp, records: &[&str], total: usize) {
    for record in records {
        t.ehr.touch(record);
    }
    assert!(t.receiver.wait_for_distinct(total, PATIENCE).await);
    eventually_async("completed containers", PATIENCE, async || {
        t.app.store().pending_count() == 0 && t.app.store().retained_count().await.unwrap() == total
    })
    .await;
}

/// `courier replay` of everything delivered to `app` since `start`, through the API at `url`.
fn replay_args<'a>(url: &'a str, start: &'a str) -> [&'a str; 7] {
    [
        "replay",
        "--admin",
        url,
        "--destination",
        "app",
        "--since",
        start,
    ]
}

/// Starts a replay through the API and waits for it to end; returns its final progress.
async fn replay(url: &str, request: Value) -> Value {
    let started = courier::admin::client::AdminClient::new(url, None)
        .post_json("/replay", &request)
        .await
        .expect("the replay starts");
    let path = &format!("/replay/{}", started["job"]);
    eventually_some("the replay to end", PATIENCE, || async move {
        let progress = get(url, path).await.json();
        (progress["state"] != "running").then_some(progress)
    })
    .await
}

/// `(webhook-id, body)` of what arrived after the first `skip` requests.
fn arrivals(t: &TestApp, skip: usize) -> BTreeSet<(String, Vec<u8>)> {
    let received: Vec<Received> = t.receiver.received().into_iter().skip(skip).collect();
    assert!(
        received.iter().all(|r| r.verified && r.accepted()),
        "signed afresh, accepted"
    );
    received.into_iter().map(|r| (r.id, r.body)).collect()
}

fn from(received: &[Received], keep: impl Fn(&Received) -> bool) -> BTreeSet<(String, Vec<u8>)> {
    received
        .iter()
        .filter(|r| keep(r))
        .map(|r| (r.id.clone(), r.body.clone()))
        .collect()
}

#[actix_rt::test]
async fn replay_resends_the_exact_bodies_with_their_ids_within_the_range_and_connection() {
    let (t, admin) = two_connections("").await;
    let url = admin.url();
    let start = Utc::now();
    deliver(&t, &["appt-1", "appt-2"], 4).await;
    // Delivery times are kept to the millisecond: `middle` starts a millisecond of its own.
    let done = Utc::now().timestamp_millis();
    eventually("a new millisecond", PATIENCE, || {
        Utc::now().timestamp_millis() > done
    })
    .await;
    let middle = Utc::now();
    deliver(&t, &["appt-3"], 6).await;
    let original = t.receiver.received();
    let early = |r: &Received| r.json["data"]["key"] != "appt-3";

    let mut seen = original.len();
    let everything = replay(&url, json!({"destination": "app", "since": start})).await;
    assert_eq!(
        (everything["sent"].clone(), everything["total"].clone()),
        (json!(6), json!(6))
    );
    assert_eq!(everything["state"], "finished");
    assert_eq!(
        arrivals(&t, seen),
        from(&original, |_| true),
        "same ids, same bytes"
    );

    seen = t.receiver.received().len();
    let before = replay(
        &url,
        json!({"destination": "app", "since": start, "until": middle}),
    );
    assert_eq!(before.await["sent"], 4);
    assert_eq!(arrivals(&t, seen), from(&original, early));

    seen = t.receiver.received().len();
    let after = replay(&url, json!({"destination": "app", "since": middle})).await;
    assert_eq!(after["sent"], 2);
    assert_eq!(arrivals(&t, seen), from(&original, |r| !early(r)));

    seen = t.receiver.received().len();
    let of_b = json!({"destination": "app", "since": start, "connection": "clinic-b"});
    assert_eq!(replay(&url, of_b).await["sent"], 3);
    let b = |r: &Received| r.json["data"]["connection"] == "clinic-b";
    assert_eq!(arrivals(&t, seen), from(&original, b));
    // Replays went straight to the destination: nothing new entered the pipeline.
    assert_eq!(t.app.store().retained_count().await.unwrap(), 6);
    assert_eq!(t.connection("clinic-a").changes, 3);
}

#[actix_rt::test]
async fn courier_replay_prints_progress_and_a_summary() {
    let (t, admin) = two_connections("").await;
    let start = Utc::now().to_rfc3339();
    deliver(&t, &["appt-1", "appt-2"], 4).await;
    let seen = t.receiver.received().len();
    let url = admin.url();
    let args = replay_args(&url, &start);
    let run = courier_cli(&[&args[..], &["--connection", "clinic-a"]].concat()).await;
    let said = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(said.contains("sent 2 failed 0 of 2"), "{said}");
    assert!(
        said.trim_end()
            .ends_with("replay finished: 2 sent, 0 failed of 2"),
        "{said}"
    );
    let a = |r: &Received| r.json["data"]["connection"] == "clinic-a";
    assert_eq!(arrivals(&t, seen), from(&t.receiver.received()[..seen], a));
    // A mistaken destination is refused with the reason, and exits 1.
    let wrong = [
        "replay",
        "--admin",
        &url,
        "--destination",
        "nope",
        "--since",
        &start,
    ];
    let refused = courier_cli(&wrong).await;
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("no destination nope is configured"));
}

#[actix_rt::test]
async fn notifications_past_their_retention_are_swept_and_not_replayed() {
    // 1.8 s of retention: swept about every 0.45 s.
    let clock = ManualClock::running();
    let (t, admin) = two_connections_by("retain_hours = 0.0005\n", clock.clock()).await;
    let url = admin.url();
    let start: DateTime<Utc> = Utc::now();
    deliver(&t, &["appt-1"], 2).await;
    let fresh = replay(&url, json!({"destination": "app", "since": start})).await;
    assert_eq!(fresh["sent"], 2, "still retained");
    // Past the retention by Courier's clock: the next sweep finds them expired.
    clock.advance(std::time::Duration::from_secs(2));
    eventually_async("the sweep removed them", PATIENCE, async || {
        t.app.store().retained_count().await.unwrap() == 0
    })
    .await;
    let seen = t.receiver.received().len();
    let expired = replay(&url, json!({"destination": "app", "since": start})).await;
    assert_eq!(
        (expired["total"].clone(), expired["sent"].clone()),
        (json!(0), json!(0))
    );
    assert_eq!(t.receiver.received().len(), seen, "nothing was sent");
}

#[actix_rt::test]
async fn a_destination_that_keeps_nothing_retains_nothing_and_refuses_a_replay() {
    let (t, admin) = two_connections("retain_hours = 0\n").await;
    t.ehr.touch("appt-1");
    assert!(t.receiver.wait_for_distinct(2, PATIENCE).await);
    eventually("completed", PATIENCE, || t.app.store().pending_count() == 0).await;
    assert_eq!(t.app.store().retained_count().await.unwrap(), 0);
    let refused = courier::admin::client::AdminClient::new(&admin.url(), None)
        .post_json(
            "/replay",
            &json!({"destination": "app", "since": Utc::now()}),
        )
        .await
        .unwrap_err();
    let text = refused.to_string();
    assert!(
        text.contains("422") && text.contains("retain_hours = 0"),
        "{text}"
    );
    let missing = get(&admin.url(), "/replay/99").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

/// The retained segment files under `dir`, at any depth.
fn segment_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(segment_files(&path));
        } else if path.extension().is_some_and(|e| e == "seg") {
            found.push(path);
        }
    }
    found
}

#[actix_rt::test]
async fn courier_replay_over_a_damaged_segment_reports_what_it_skipped_and_exits_3() {
    let (t, admin) = two_connections("").await;
    let start = Utc::now().to_rfc3339();
    let records = ["appt-1", "appt-2", "appt-3", "appt-4", "appt-5", "appt-6"];
    deliver(&t, &records, 12).await;
    let store_dir = t.config_path.parent().unwrap();
    let largest = segment_files(store_dir)
        .into_iter()
        .max_by_key(|path| std::fs::metadata(path).unwrap().len())
        .expect("a segment file");
    // Garbage in the middle of the file, not a torn tail.
    let mut bytes = std::fs::read(&largest).unwrap();
    let middle = bytes.len() / 2;
    for (i, byte) in bytes[middle - 8..middle + 8].iter_mut().enumerate() {
        *byte = (i * 37 + 11) as u8;
    }
    std::fs::write(&largest, bytes).unwrap();

    let url = admin.url();
    let args = replay_args(&url, &start);
    let run = courier_cli(&args).await;
    let said = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(3), "{said}");
    assert!(said.contains("skipped 1 damaged stretch"), "{said}");
    let progress = replay(&url, json!({"destination": "app", "since": start})).await;
    assert_eq!(progress["skipped"], 1, "{progress}");
    let sent = progress["sent"].as_u64().unwrap();
    assert!(
        (10..12).contains(&sent),
        "only the damaged ones are missing: {progress}"
    );
}
