//! `source = "fhir"` against the real FHIR server sekmet-fhir: appointments created,
//! rescheduled, cancelled, re-saved unchanged and deleted with PUT and DELETE, each seen as one
//! notification of the right event type with its patient.

use serde_json::Value;

use crate::support::app::{eventually, PATIENCE};
use crate::support::fhir::{spawn_fhir_app, FhirApp, FhirSpec};
use crate::support::sekmet::{appointment, patient, Sekmet, SekmetAuth, SekmetOptions};

async fn wait_for(t: &FhirApp, count: usize) {
    eventually(&format!("{count} notifications"), PATIENCE, || {
        t.receiver.unique_accepted_ids() >= count
    })
    .await;
}

fn spec(sekmet: &Sekmet) -> FhirSpec {
    let mut spec = FhirSpec::new(&sekmet.base_url());
    spec.page_size = 2;
    spec.resources = vec![
        "type = \"Appointment\"\nenrich = [\"participant.actor:Patient\"]\ndeletes = true"
            .to_owned(),
    ];
    spec
}

/// `type focus version patient=<id>` of each distinct notification, in arrival order.
fn summary(t: &FhirApp) -> Vec<String> {
    t.changes()
        .iter()
        .map(|c| {
            let patient = &c.body["data"]["resources"]["Patient"]["id"];
            let patient = patient.as_str().unwrap_or("-");
            format!(
                "{} {} {} patient={patient}",
                c.event_type, c.focus, c.version
            )
        })
        .collect()
}

#[actix_rt::test]
async fn each_appointment_change_on_sekmet_is_one_notification_of_its_kind() {
    let sekmet = Sekmet::start(SekmetAuth::None);
    sekmet.put(&patient("p1"));
    sekmet.put(&appointment("a1", "p1", "booked"));
    let t = spawn_fhir_app(&spec(&sekmet));
    wait_for(&t, 1).await;
    let mut moved = appointment("a1", "p1", "booked");
    moved["start"] = Value::from("2030-01-02T09:00:00Z");
    moved["end"] = Value::from("2030-01-02T09:30:00Z");
    sekmet.put(&moved);
    wait_for(&t, 2).await;
    // Saved again unchanged: a new version, but no change worth a notification.
    sekmet.put(&moved);
    let mut cancelled = moved.clone();
    cancelled["status"] = Value::from("cancelled");
    sekmet.put(&cancelled);
    wait_for(&t, 3).await;
    sekmet.put(&appointment("a2", "p1", "booked"));
    wait_for(&t, 4).await;
    sekmet.delete("Appointment", "a2");
    wait_for(&t, 5).await;
    // Time for a stray duplicate or a notification of the no-op to show up: 16 more polls
    // (800 ms at the 50 ms interval), all delivered.
    t.settle(16).await;
    assert_eq!(
        summary(&t),
        [
            "Appointment.new Appointment/a1 1 patient=p1",
            "Appointment.rescheduled Appointment/a1 2 patient=p1",
            "Appointment.cancelled Appointment/a1 4 patient=p1",
            "Appointment.new Appointment/a2 1 patient=p1",
            "Appointment.deleted Appointment/a2 2 patient=-",
        ]
    );
    let cancel = &t.changes()[2].body["data"];
    assert_eq!(cancel["changed_elements"], serde_json::json!(["status"]));
    assert_eq!(cancel["focus"], "Appointment/a1");
    assert!(
        t.status().warnings.is_empty(),
        "sekmet declares type history"
    );
}

#[actix_rt::test]
async fn a_backlog_on_sekmet_is_paged_whole_in_pages_of_two() {
    let sekmet = Sekmet::start(SekmetAuth::None);
    sekmet.put(&patient("p1"));
    for n in 1..=9 {
        sekmet.put(&appointment(&format!("a{n}"), "p1", "booked"));
    }
    let t = spawn_fhir_app(&spec(&sekmet));
    wait_for(&t, 9).await;
    let mut focuses: Vec<String> = t.changes().into_iter().map(|c| c.focus).collect();
    focuses.sort();
    let expected: Vec<String> = (1..=9).map(|n| format!("Appointment/a{n}")).collect();
    assert_eq!(focuses, expected);
    assert_eq!(t.receiver.summary().duplicates, 0);
}

#[actix_rt::test]
async fn a_smart_server_is_polled_with_client_credentials_and_type_scopes() {
    let scopes = "system/Appointment.rs system/Patient.rs";
    let sekmet = Sekmet::start_with(SekmetOptions {
        auth: SekmetAuth::Smart {
            client_id: "courier".into(),
            client_secret: "s3cret-for-tests".into(),
            scopes: scopes.into(),
        },
        ..SekmetOptions::default()
    });
    sekmet.put(&patient("p1"));
    sekmet.put(&appointment("a1", "p1", "booked"));
    let mut spec = spec(&sekmet);
    spec.auth = Some(format!(
        "type = \"client_credentials\"\ntoken_url = {:?}\nclient_id = \"courier\"\n\
         client_secret_env = \"SEKMET_SECRET\"\nscope = {scopes:?}",
        sekmet.token_url()
    ));
    spec.env = vec![("SEKMET_SECRET", "s3cret-for-tests".into())];
    let t = spawn_fhir_app(&spec);
    wait_for(&t, 1).await;
    sekmet.delete("Appointment", "a1");
    wait_for(&t, 2).await;
    assert_eq!(
        summary(&t),
        [
            "Appointment.new Appointment/a1 1 patient=p1",
            "Appointment.deleted Appointment/a1 2 patient=-",
        ],
        "search, enrichment and history, all with the SMART token"
    );
}
