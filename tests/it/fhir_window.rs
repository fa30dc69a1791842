//! `mode = "snapshot"`: a FHIR resource type searched by date window, for servers without
//! `_lastUpdated`, against the simulated server (with `_lastUpdated` refused) and the real
//! sekmet-fhir: each change of an appointment arrives once, with its FHIR event type and
//! focus; the first listing is a baseline; the Subscription format works; and
//! `initial = "baseline"` on a `_lastUpdated` type starts at the server's clock.

use chrono::{Duration, SecondsFormat, Utc};
use serde_json::{json, Value};

use courier_sim::{SimFhir, VersionIds};

use crate::support::app::{eventually, PATIENCE};
use crate::support::fhir::{spawn_fhir_app, FhirApp, FhirSpec};
use crate::support::sekmet::{patient, Sekmet, SekmetAuth};

/// The window: from yesterday through the whole day two weeks ahead (`le` of a date covers
/// that day, so the window ends at its midnight).
const WINDOW: &str = "mode = \"snapshot\"\n\
    params = \"date=ge{today-1d}&date=le{today+14d}\"\n\
    window_start = \"today-1d\"\nwindow_end = \"today+15d\"\n\
    enrich = [\"participant.actor:Patient\"]";

/// An appointment of patient p1 starting `days` from now, for 30 minutes.
fn appointment(id: &str, status: &str, days: i64) -> Value {
    let start = Utc::now() + Duration::days(days);
    let text = |at: chrono::DateTime<Utc>| at.to_rfc3339_opts(SecondsFormat::Secs, true);
    json!({
        "resourceType": "Appointment", "id": id, "status": status,
        "start": text(start), "end": text(start + Duration::minutes(30)),
        "participant": [{"actor": {"reference": "Patient/p1"}, "status": "accepted"}],
    })
}

fn window_spec(base_url: &str, extra: &str) -> FhirSpec {
    let mut spec = FhirSpec::new(base_url);
    spec.page_size = 2;
    spec.resources = vec![format!("type = \"Appointment\"\n{WINDOW}\n{extra}")];
    spec
}

async fn wait_for(t: &FhirApp, count: usize) {
    eventually(&format!("{count} notifications"), PATIENCE, || {
        t.receiver.unique_accepted_ids() >= count
    })
    .await;
}

/// `type focus patient=<id>` of each distinct notification, in arrival order.
fn summary(t: &FhirApp) -> Vec<String> {
    t.changes()
        .iter()
        .map(|c| {
            let patient = &c.body["data"]["resources"]["Patient"]["id"];
            let patient = patient.as_str().unwrap_or("-");
            format!("{} {} patient={patient}", c.event_type, c.focus)
        })
        .collect()
}

/// Writes and deletes of one appointment, through the server under test.
trait Server {
    fn put(&self, resource: &Value);
    fn delete(&self, id: &str);
}

impl Server for SimFhir {
    fn put(&self, resource: &Value) {
        courier_sim::FhirControl::put(self, resource);
    }
    fn delete(&self, id: &str) {
        courier_sim::FhirControl::delete(self, "Appointment", id);
    }
}

impl Server for Sekmet {
    fn put(&self, resource: &Value) {
        Sekmet::put(self, resource);
    }
    fn delete(&self, id: &str) {
        Sekmet::delete(self, "Appointment", id);
    }
}

/// Three appointments before Courier starts (a baseline, listed in pages of two), then one
/// created, rescheduled, saved unchanged, cancelled and deleted: four notifications, each
/// once, of its kind.
async fn each_change_is_one_notification(server: &impl Server, base_url: &str) -> FhirApp {
    for n in 1..=3 {
        server.put(&appointment(&format!("old{n}"), "booked", n));
    }
    let t = spawn_fhir_app(&window_spec(base_url, ""));
    // Two listings at least: the baseline, and one that found nothing new.
    t.settle(12).await;
    assert_eq!(
        t.receiver.unique_accepted_ids(),
        0,
        "the baseline notifies nothing"
    );
    server.put(&appointment("a1", "booked", 2));
    wait_for(&t, 1).await;
    let moved = appointment("a1", "booked", 3);
    server.put(&moved);
    wait_for(&t, 2).await;
    // Saved again unchanged: a new version, the same content.
    server.put(&moved);
    let mut cancelled = moved.clone();
    cancelled["status"] = json!("cancelled");
    server.put(&cancelled);
    wait_for(&t, 3).await;
    server.delete("a1");
    wait_for(&t, 4).await;
    // Time for a stray duplicate or a false removal to show up.
    t.settle(16).await;
    assert_eq!(
        summary(&t),
        [
            "Appointment.new Appointment/a1 patient=p1",
            "Appointment.rescheduled Appointment/a1 patient=p1",
            "Appointment.cancelled Appointment/a1 patient=p1",
            "Appointment.deleted Appointment/a1 patient=-",
        ]
    );
    let changes = t.changes();
    assert_eq!(
        changes[2].body["data"]["changed_elements"],
        json!(["status"])
    );
    assert_eq!(changes[1].body["data"]["focus"], "Appointment/a1");
    assert_eq!(t.receiver.summary().duplicates, 0);
    assert!(t.status().warnings.is_empty(), "{:?}", t.status().warnings);
    t
}

#[actix_rt::test]
async fn each_change_in_a_date_window_is_one_notification_of_its_kind() {
    let fhir = SimFhir::start(VersionIds::Counter).unwrap();
    // A server that searches by date only: `_lastUpdated` answers 400.
    fhir.set_last_updated(false);
    fhir.put(&patient("p1"));
    let t = each_change_is_one_notification(&fhir, &fhir.base_url()).await;
    assert!(
        t.status().last_error.is_none(),
        "{:?}",
        t.status().last_error
    );
}

#[actix_rt::test]
async fn each_change_in_a_date_window_on_sekmet_is_one_notification_of_its_kind() {
    let sekmet = Sekmet::start(SekmetAuth::None);
    sekmet.put(&patient("p1"));
    each_change_is_one_notification(&sekmet, &sekmet.base_url()).await;
    let log = sekmet.log_text();
    assert!(log.contains("GET /fhir/Appointment?date=ge"), "{log}");
    assert!(
        !log.contains("_lastUpdated"),
        "the window search uses no _lastUpdated"
    );
}

#[actix_rt::test]
async fn an_appointment_moved_out_of_the_window_is_rescheduled_once_then_forgotten() {
    let fhir = SimFhir::start(VersionIds::Counter).unwrap();
    fhir.set_last_updated(false);
    fhir.put(&patient("p1"));
    fhir.put(&appointment("a1", "booked", 2));
    let t = spawn_fhir_app(&window_spec(&fhir.base_url(), ""));
    t.settle(8).await;
    // Moved a month ahead: out of the window, read by id, still there.
    fhir.put(&appointment("a1", "booked", 30));
    wait_for(&t, 1).await;
    t.settle(12).await;
    assert_eq!(
        summary(&t),
        ["Appointment.rescheduled Appointment/a1 patient=p1"]
    );
}

#[actix_rt::test]
async fn initial_notify_sends_the_window_as_new_with_backfill() {
    let fhir = SimFhir::start(VersionIds::Counter).unwrap();
    fhir.set_last_updated(false);
    fhir.put(&patient("p1"));
    for n in 1..=3 {
        fhir.put(&appointment(&format!("a{n}"), "booked", n));
    }
    // Outside the window: not listed, not notified.
    fhir.put(&appointment("later", "booked", 40));
    let t = spawn_fhir_app(&window_spec(&fhir.base_url(), "initial = \"notify\""));
    wait_for(&t, 3).await;
    t.settle(8).await;
    let mut focuses: Vec<String> = t.changes().iter().map(|c| c.focus.clone()).collect();
    focuses.sort();
    assert_eq!(
        focuses,
        ["Appointment/a1", "Appointment/a2", "Appointment/a3"]
    );
    for change in t.changes() {
        assert_eq!(change.event_type, "Appointment.new");
        assert_eq!(change.body["data"]["backfill"], true, "{}", change.body);
    }
}

/// The value of the status parameter `name` in a notification Bundle.
fn parameter(bundle: &Value, name: &str) -> Value {
    let all = bundle["entry"][0]["resource"]["parameter"]
        .as_array()
        .unwrap();
    all.iter().find(|p| p["name"] == name).cloned().unwrap()
}

#[actix_rt::test]
async fn window_changes_reach_a_subscription_receiver_as_notification_bundles() {
    let fhir = SimFhir::start(VersionIds::Counter).unwrap();
    fhir.set_last_updated(false);
    fhir.put(&patient("p1"));
    let mut spec = window_spec(&fhir.base_url(), "");
    spec.destination_extra = "format = \"fhir-subscription\"\npayload = \"id-only\"".into();
    let t = spawn_fhir_app(&spec);
    t.settle(6).await;
    let booked = appointment("a1", "booked", 1);
    fhir.put(&booked);
    eventually("the booking", PATIENCE, || {
        t.receiver.unique_accepted_ids() >= 1
    })
    .await;
    Server::delete(&fhir, "a1");
    eventually("the deletion", PATIENCE, || {
        t.receiver.unique_accepted_ids() >= 2
    })
    .await;
    let mut bundles: Vec<Value> = t.receiver.accepted().into_iter().map(|r| r.json).collect();
    bundles.dedup_by(|a, b| a == b);
    let focus = json!({"reference": format!("{}/Appointment/a1", fhir.base_url())});
    let topics: Vec<Value> = bundles
        .iter()
        .map(|bundle| {
            assert_eq!(bundle["type"], "history");
            let event = parameter(bundle, "notification-event")["part"].clone();
            // Courier's version of a window change is not the server's: no `_history`.
            let parts = event.as_array().unwrap();
            assert!(
                parts.contains(&json!({"name": "focus", "valueReference": focus})),
                "{event}"
            );
            parameter(bundle, "topic")["valueCanonical"].clone()
        })
        .collect();
    assert_eq!(
        topics,
        [
            "urn:courier:topic:Appointment.new",
            "urn:courier:topic:Appointment.deleted"
        ]
    );
}

#[actix_rt::test]
async fn a_last_updated_type_with_initial_baseline_starts_at_the_servers_clock() {
    let fhir = SimFhir::start(VersionIds::Counter).unwrap();
    fhir.put(&patient("p1"));
    // Written well before Courier starts: the server's `Date` is whole seconds.
    let ten_seconds_ago = Utc::now() - Duration::seconds(10);
    let at = ten_seconds_ago.to_rfc3339_opts(SecondsFormat::Millis, true);
    fhir.put_at(&appointment("before", "booked", 1), &at, None);
    let mut spec = FhirSpec::new(&fhir.base_url());
    spec.initial_since = String::new();
    spec.resources = vec!["type = \"Appointment\"\ninitial = \"baseline\"".into()];
    let t = spawn_fhir_app(&spec);
    t.settle(6).await;
    assert_eq!(
        t.receiver.unique_accepted_ids(),
        0,
        "what was there is not news"
    );
    fhir.put(&appointment("after", "booked", 1));
    wait_for(&t, 1).await;
    t.settle(6).await;
    assert_eq!(summary(&t), ["Appointment.new Appointment/after patient=-"]);
}

/// A restart in the middle of a listing (a slow server: each page takes 150 ms) starts a new
/// listing; what the earlier pages committed is stored, so nothing is notified twice and
/// nothing is lost.
#[actix_rt::test]
async fn a_restart_mid_listing_repeats_nothing_and_loses_nothing() {
    let fhir = SimFhir::start(VersionIds::Counter).unwrap();
    fhir.set_last_updated(false);
    fhir.put(&patient("p1"));
    for n in 1..=9 {
        fhir.put(&appointment(&format!("a{n}"), "booked", n));
    }
    fhir.on_search(|_| std::thread::sleep(std::time::Duration::from_millis(150)));
    let t = spawn_fhir_app(&window_spec(&fhir.base_url(), "initial = \"notify\""));
    wait_for(&t, 2).await;
    let t = t.restarted().await;
    wait_for(&t, 9).await;
    // Found by a later listing: news, not backfill.
    fhir.put(&appointment("b1", "booked", 10));
    wait_for(&t, 10).await;
    t.settle(8).await;
    let changes = t.changes();
    let mut focuses: Vec<&str> = changes.iter().map(|c| c.focus.as_str()).collect();
    focuses.sort();
    let mut expected: Vec<String> = (1..=9).map(|n| format!("Appointment/a{n}")).collect();
    expected.push("Appointment/b1".into());
    assert_eq!(focuses, expected, "each appointment once, none lost");
    let b1 = changes
        .iter()
        .find(|c| c.focus == "Appointment/b1")
        .unwrap();
    assert!(b1.body["data"].get("backfill").is_none(), "{}", b1.body);
}
