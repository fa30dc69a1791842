//! The whole pipeline as a receiver sees it: every change delivered, enriched, signed, with
//! a gap-free sequence, and nothing twice.

use std::collections::{BTreeSet, HashMap};

use courier_sim::{Fault, Received, Route, SimEhrOptions};
use serde_json::Value;

use crate::support::app::{eventually, eventually_async, spawn_app, PATIENCE};
use crate::support::python::{reference_verify, SignedMessage};

fn by_sequence(received: &[Received]) -> HashMap<u64, &Received> {
    received
        .iter()
        .map(|r| (r.json["data"]["sequence"].as_u64().expect("a sequence"), r))
        .collect()
}

#[actix_rt::test]
async fn every_change_is_delivered_once_enriched_and_in_a_gap_free_sequence() {
    let ehr_options = SimEhrOptions {
        patients: 5,
        appointments: 12,
        ..SimEhrOptions::default()
    };
    // A page size of 7 makes the 30 changes span several pages, drained back to back.
    let t = spawn_app(ehr_options, |c| c.with("page_size", "7")).await;
    let mut expected = Vec::new();
    for n in 0..30 {
        let id = format!("appt-{}", n % 12 + 1);
        expected.push((t.ehr.touch(&id), id));
    }
    eventually("30 notifications", PATIENCE, || {
        t.receiver.unique_accepted_ids() == 30
    })
    .await;

    let accepted = t.receiver.accepted();
    let summary = t.receiver.summary();
    assert_eq!(
        (summary.delivered, summary.duplicates, summary.failures),
        (30, 0, 0)
    );
    assert!(summary.all_verified, "every signature verifies");
    let sequences: BTreeSet<u64> = by_sequence(&accepted).into_keys().collect();
    assert_eq!(sequences, (1..=30).collect(), "gap-free, starting at 1");
    for r in &accepted {
        let body = &r.json;
        assert_eq!(
            body["id"],
            Value::String(r.id.clone()),
            "body id is the webhook-id"
        );
        assert_eq!(body["type"], "appointment.updated");
        let data = &body["data"];
        assert_eq!(data["connection"], "clinic-a");
        let key = data["key"].as_str().unwrap();
        assert_eq!(data["change"]["id"], key);
        assert_eq!(data["version"], data["change"]["seq"].to_string());
        assert_eq!(
            data["resources"]["appointment"]["id"], key,
            "the record was fetched"
        );
        let patient = &data["resources"]["patient"];
        assert_eq!(patient["resourceType"], "Patient");
        assert_eq!(
            patient["id"], data["change"]["patientId"],
            "the related patient was fetched"
        );
        assert!(data.get("missing").is_none());
    }
    let versions: BTreeSet<(String, String)> = accepted
        .iter()
        .map(|r| {
            (
                r.json["data"]["key"].as_str().unwrap().to_owned(),
                r.json["data"]["version"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let sent: BTreeSet<(String, String)> = expected
        .into_iter()
        .map(|(seq, id)| (id, seq.to_string()))
        .collect();
    assert_eq!(versions, sent, "exactly the changes the EHR made");
    // Status and the store catch up a moment after the receiver's 2xx.
    eventually("30 changes in status", PATIENCE, || {
        t.connection("clinic-a").changes == 30
    })
    .await;
    eventually("delivered containers leave the store", PATIENCE, || {
        t.app.store().pending_count() == 0
    })
    .await;
}

#[actix_rt::test]
async fn delivered_notifications_verify_with_the_reference_standard_webhooks_library() {
    let t = spawn_app(SimEhrOptions::default(), |c| c).await;
    for id in ["appt-1", "appt-2", "appt-3"] {
        t.ehr.touch(id);
    }
    eventually("3 notifications", PATIENCE, || {
        t.receiver.unique_accepted_ids() == 3
    })
    .await;
    let messages: Vec<SignedMessage> = t
        .receiver
        .accepted()
        .into_iter()
        .map(|r| SignedMessage {
            id: r.id,
            timestamp: r.timestamp,
            signature: r.signature,
            body: r.body,
        })
        .collect();
    assert_eq!(reference_verify(&t.secret, &messages), vec![true; 3]);
}

#[actix_rt::test]
async fn a_record_the_ehr_answers_404_for_is_still_notified_and_marked_missing() {
    let t = spawn_app(SimEhrOptions::default(), |c| c).await;
    // The first detail request (the appointment) answers 404: the record is gone.
    t.ehr.inject(Route::Details, Fault::Status(404), 1);
    t.ehr.touch("appt-2");
    assert!(t.receiver.wait_for_accepted(1, PATIENCE).await);
    let data = &t.receiver.accepted()[0].json["data"];
    assert_eq!(data["key"], "appt-2");
    assert_eq!(data["resources"]["appointment"], Value::Null);
    assert_eq!(data["missing"], serde_json::json!(["appointment"]));
    assert_eq!(
        data["resources"]["patient"]["resourceType"], "Patient",
        "other steps still run"
    );
}

#[actix_rt::test]
async fn a_failing_detail_request_is_retried_until_the_notification_is_complete() {
    let t = spawn_app(SimEhrOptions::default(), |c| c).await;
    t.ehr.inject(Route::Details, Fault::Status(500), 4);
    t.ehr.inject(Route::Details, Fault::Garbage, 1);
    t.ehr.touch("appt-3");
    eventually("the enrichment error in status", PATIENCE, || {
        t.connection("clinic-a").enrich_error.is_some()
    })
    .await;
    assert!(t.receiver.wait_for_accepted(1, PATIENCE).await);
    let data = &t.receiver.accepted()[0].json["data"];
    assert_eq!(data["resources"]["appointment"]["id"], "appt-3");
    assert_eq!(data["resources"]["patient"]["resourceType"], "Patient");
    let status = t.connection("clinic-a");
    assert_eq!(status.enrich_failures, 5);
    assert_eq!(
        status.enrich_error, None,
        "cleared once enrichment succeeds"
    );
    assert_eq!(status.polls_failed, 0, "polling was never the problem");
}

#[actix_rt::test]
async fn a_destination_failing_then_recovering_gets_the_notification_with_the_same_id() {
    let t = spawn_app(SimEhrOptions::default(), |c| c).await;
    t.receiver.respond_with(vec![503, 500]);
    t.ehr.touch("appt-4");
    eventually("a delivery after two failures", PATIENCE, || {
        t.receiver.accepted().len() == 1
    })
    .await;
    let received = t.receiver.received();
    let answers: Vec<u16> = received.iter().map(|r| r.answered).collect();
    assert_eq!(answers, [503, 500, 200]);
    assert!(
        received.iter().all(|r| r.id == received[0].id),
        "every attempt carries the same id"
    );
    assert!(
        received.iter().all(|r| r.body == received[0].body),
        "and the same body"
    );
    assert!(
        received.iter().all(|r| r.verified),
        "each attempt is signed afresh"
    );
    assert!(
        received
            .iter()
            .all(|r| r.content_type == "application/json"),
        "the standard format is plain JSON"
    );
    eventually("the failures counted", PATIENCE, || {
        t.app.status().destinations["app"].failed_attempts == 2
    })
    .await;
    assert_eq!(
        t.app.status().destinations["app"].last_error,
        None,
        "recovered"
    );
}

#[actix_rt::test]
async fn a_notification_the_receiver_always_rejects_ends_in_the_dead_letters_with_every_attempt() {
    let t = spawn_app(SimEhrOptions::default(), |c| c).await;
    // A 422 judges the notification: the destination is up, so its schedule can run out.
    t.receiver.always(422);
    t.ehr.touch("appt-5");
    eventually_async("a dead letter", PATIENCE, async || {
        t.app.store().dead_letters().await.unwrap().len() == 1
    })
    .await;
    let letter = t.app.store().dead_letters().await.unwrap().remove(0);
    assert_eq!(letter.connection, "clinic-a");
    assert_eq!(letter.sequence, 1);
    assert_eq!(letter.destination, "app");
    // One first attempt and one per step of the four-step test schedule.
    assert_eq!(letter.attempts.len(), 5);
    assert!(letter.attempts.iter().all(|a| a.status == Some(422)));
    assert_eq!(letter.body["data"]["key"], "appt-5");
    assert_eq!(t.receiver.received().len(), 5);
    assert_eq!(t.app.store().pending_count(), 0, "moved, not copied");
    assert_eq!(t.app.status().destinations["app"].dead_lettered, 1);
}

#[actix_rt::test]
async fn records_sharing_a_timestamp_across_page_edges_are_each_delivered_once() {
    let t = spawn_app(SimEhrOptions::default(), |c| {
        c.with("cursor_pointer", "\"/ts\"")
            .with("initial_cursor", "\"2000-01-01T00:00:00Z\"")
            .with("page_size", "3")
    })
    .await;
    // Seven changes at one instant, more than two pages of three, then two later ones. The
    // feed's `since` is inclusive for times, so every page re-reads the shared instant.
    for n in 1..=7 {
        t.ehr
            .touch_at(&format!("appt-{n}"), "2026-11-26T10:00:00.000Z");
    }
    t.ehr.touch_at("appt-8", "2026-11-26T10:00:01.000Z");
    t.ehr.touch_at("appt-9", "2026-11-26T10:00:01.000Z");
    eventually("9 notifications", PATIENCE, || {
        t.receiver.unique_accepted_ids() == 9
    })
    .await;
    eventually("the cursor at the last instant", PATIENCE, || {
        t.connection("clinic-a").cursor.as_deref() == Some("2026-11-26T10:00:01.000Z")
    })
    .await;
    let summary = t.receiver.summary();
    assert_eq!((summary.delivered, summary.duplicates), (9, 0));
    let keys: BTreeSet<String> = t
        .receiver
        .accepted()
        .iter()
        .map(|r| r.json["data"]["key"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(keys.len(), 9);
}

#[actix_rt::test]
async fn a_date_header_cursor_delivers_each_change_once_including_late_commits_within_the_lag() {
    let t = spawn_app(SimEhrOptions::default(), |c| c.date_header("2")).await;
    for n in 1..=5 {
        t.ehr.touch(&format!("appt-{n}"));
    }
    eventually("5 notifications", PATIENCE, || {
        t.receiver.unique_accepted_ids() == 5
    })
    .await;
    // Every poll re-reads the last two seconds; none of it may come twice.
    let polls = t.connection("clinic-a").polls_ok;
    eventually("ten more polls", PATIENCE, || {
        t.connection("clinic-a").polls_ok >= polls + 10
    })
    .await;
    // A change committed late, stamped a second ago: inside the lag, so not missed.
    let late = chrono::Utc::now() - chrono::Duration::seconds(1);
    t.ehr.touch_at(
        "appt-6",
        &late.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    );
    eventually("the late change", PATIENCE, || {
        t.receiver.unique_accepted_ids() == 6
    })
    .await;
    let polls = t.connection("clinic-a").polls_ok;
    eventually("ten more polls", PATIENCE, || {
        t.connection("clinic-a").polls_ok >= polls + 10
    })
    .await;

    let summary = t.receiver.summary();
    assert_eq!((summary.delivered, summary.duplicates), (6, 0));
    let cursor = t.connection("clinic-a").cursor.expect("a cursor");
    let cursor = chrono::DateTime::parse_from_rfc3339(&cursor).expect("an RFC 3339 cursor");
    let behind = chrono::Utc::now().signed_duration_since(cursor);
    assert!(
        (1..=4).contains(&behind.num_seconds()),
        "the cursor trails the EHR's clock by the lag, {behind}"
    );
}

#[actix_rt::test]
async fn headers_from_the_environment_reach_a_receiver_behind_a_gateway() {
    use crate::support::app::{config_text, parse_config_with, start_receiver, ConnectionSpec};
    let ehr = courier_sim::SimEhr::start(SimEhrOptions::default()).unwrap();
    let (receiver, secret) = start_receiver();
    let dir = tempfile::tempdir().unwrap();
    let extra = "retry_schedule_secs = [0.05]\n[destinations.app.headers_env]\nAuthorization = \"GATEWAY_AUTH\"";
    let text = config_text(
        dir.path(),
        &receiver.url(),
        extra,
        &[ConnectionSpec::new("clinic-a", &ehr)],
    );
    let config = parse_config_with(&text, &secret, &[("GATEWAY_AUTH", "Bearer gw-t0ken")]);
    assert!(
        !format!("{config:?}").contains("gw-t0ken"),
        "the value never shows in debug output"
    );
    let store = courier::store::Store::open(dir.path()).unwrap();
    let _app = courier::app::App::start(config, store, courier::app::AppOptions::default());
    ehr.touch("appt-1");
    assert!(receiver.wait_for_accepted(1, PATIENCE).await);
    let accepted = receiver.accepted();
    assert_eq!(
        accepted[0].authorization.as_deref(),
        Some("Bearer gw-t0ken")
    );
    assert!(accepted[0].verified, "the signature is unaffected");
}

#[actix_rt::test]
async fn status_shows_a_large_first_page_as_stored_while_it_is_still_being_dispatched() {
    let ehr = SimEhrOptions {
        initial_changes: 200,
        ..SimEhrOptions::default()
    };
    let spec = |ehr: &courier_sim::SimEhr| {
        vec![crate::support::app::ConnectionSpec::new("clinic-a", ehr)
            .with("page_size", "500")
            .with("max_concurrent_enrichments", "1")]
    };
    let options = courier::app::AppOptions::default();
    // No per-key wait: every container of the page goes through the one enrichment slot.
    let t = crate::support::app::spawn_app_with(ehr, options, "ordering = \"none\"\n", spec).await;
    t.ehr.set_latency(std::time::Duration::from_millis(5));
    eventually("the page's 200 changes shown", PATIENCE, || {
        t.connection("clinic-a").changes == 200
    })
    .await;
    let delivered = t.receiver.unique_accepted_ids();
    assert!(
        delivered < 100,
        "shown only once {delivered} were delivered"
    );
    assert!(t.connection("clinic-a").cursor.is_some());
    eventually("every change delivered", PATIENCE, || {
        t.receiver.unique_accepted_ids() == 200
    })
    .await;
}
