//! Heartbeats as a receiver sees them: signed `courier.heartbeat` events while a connection
//! delivers nothing, carrying its last sequence number, and none while notifications flow.

use courier_sim::{Received, SimEhrOptions};

use crate::support::app::{eventually, spawn_app, TestApp, PATIENCE};

/// The heartbeat interval of these tests, as TOML seconds.
const EVERY_SECS: &str = "0.4";

fn heartbeats(t: &TestApp) -> Vec<Received> {
    t.receiver
        .received()
        .into_iter()
        .filter(|r| r.json["type"] == "courier.heartbeat")
        .collect()
}

fn notifications(t: &TestApp) -> usize {
    t.receiver
        .accepted()
        .iter()
        .filter(|r| r.json["type"] == "appointment.updated")
        .count()
}

async fn heartbeat_count(t: &TestApp, n: usize) {
    eventually(&format!("{n} heartbeats"), PATIENCE, || {
        heartbeats(t).len() >= n
    })
    .await;
}

#[actix_rt::test]
async fn an_idle_connection_sends_signed_heartbeats_with_its_last_sequence() {
    let t = spawn_app(SimEhrOptions::default(), |c| {
        c.with("heartbeat_secs", EVERY_SECS)
    })
    .await;
    heartbeat_count(&t, 2).await;
    let beats = heartbeats(&t);
    for beat in &beats {
        assert!(beat.verified, "signed with the destination's secret");
        assert!(beat.id.starts_with("hb_"));
        assert_eq!(beat.json["id"], beat.id.as_str());
        assert_eq!(beat.json["data"]["connection"], "clinic-a");
        assert_eq!(
            beat.json["data"]["last_sequence"], 0,
            "nothing assigned yet"
        );
    }
    assert_ne!(beats[0].id, beats[1].id, "a fresh id every time");
    let gap = beats[1].at - beats[0].at;
    assert!(
        gap.as_secs_f64() >= 0.35,
        "one per interval of quiet, not more: {gap:?}"
    );

    for id in ["appt-1", "appt-2", "appt-3"] {
        t.ehr.touch(id);
    }
    eventually("3 notifications", PATIENCE, || notifications(&t) == 3).await;
    let before = heartbeats(&t).len();
    heartbeat_count(&t, before + 1).await;
    let last = heartbeats(&t).pop().unwrap();
    assert_eq!(
        last.json["data"]["last_sequence"], 3,
        "the last sequence assigned"
    );
}

#[actix_rt::test]
async fn heartbeats_stop_while_notifications_flow_and_resume_after() {
    let t = spawn_app(SimEhrOptions::default(), |c| {
        c.with("heartbeat_secs", EVERY_SECS)
    })
    .await;
    heartbeat_count(&t, 1).await;
    // Traffic: a change, delivered, then the next, for several heartbeat intervals.
    let flowing = std::time::Instant::now();
    let mut sent = 0;
    while flowing.elapsed().as_secs_f64() < 2.0 {
        t.ehr.touch(&format!("appt-{}", sent % 20 + 1));
        sent += 1;
        eventually("the next notification", PATIENCE, || {
            notifications(&t) == sent
        })
        .await;
    }
    // While notifications flow a heartbeat is due only after a quiet interval (a loaded
    // machine may leave one between two deliveries): none may follow a delivery sooner.
    let every = EVERY_SECS.parse::<f64>().unwrap();
    let received = t.receiver.received();
    let mut last_notification = None;
    for r in &received {
        match (r.json["type"].as_str(), last_notification) {
            (Some("appointment.updated"), _) => last_notification = Some(r.at),
            (Some("courier.heartbeat"), Some(delivered)) => {
                let quiet = r.at.duration_since(delivered).as_secs_f64();
                assert!(
                    quiet >= every * 0.9,
                    "a heartbeat {quiet:.3} s after a delivery"
                );
            }
            _ => {}
        }
    }
    let quiet_from = heartbeats(&t).len();
    heartbeat_count(&t, quiet_from + 1).await;
    let resumed = heartbeats(&t).pop().unwrap();
    assert_eq!(resumed.json["data"]["last_sequence"], sent as u64);
}

#[test]
fn a_fhir_library_reads_the_heartbeat_bundle_of_a_fhir_subscription_destination() {
    use courier::delivery::heartbeat::heartbeat;
    use courier::model::NotificationFormat;

    let format = NotificationFormat::FhirSubscription(Default::default());
    let beat = heartbeat("clinic-a", 42, chrono::Utc::now(), format);
    let bundle: serde_json::Value = serde_json::from_slice(&beat.body).unwrap();
    let parsed = crate::support::fhir_library::parse_bundles(&[bundle]);
    assert_eq!(
        parsed[0],
        serde_json::json!({
            "type": "history",
            "resources": ["Parameters"],
            "parameters": ["subscription", "topic", "status", "type",
                           "events-since-subscription-start"],
        }),
        "{}",
        parsed[0]
    );
}
