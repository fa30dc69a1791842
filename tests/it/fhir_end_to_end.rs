//! A FHIR server polled by Courier, delivered to a `format = "fhir-subscription"` receiver:
//! each change arrives as an R4 Subscriptions Backport notification Bundle around the
//! `data.focus` the FHIR source sets, readable by a FHIR library.

use serde_json::{json, Value};

use courier_sim::{SimFhir, VersionIds};

use crate::support::app::{eventually, PATIENCE};
use crate::support::fhir::{spawn_fhir_app, FhirSpec};
use crate::support::fhir_library::parse_bundles;

/// The value of the status parameter `name` in a notification Bundle.
fn parameter(bundle: &Value, name: &str) -> Value {
    let status = &bundle["entry"][0]["resource"];
    let all = status["parameter"].as_array().unwrap();
    all.iter().find(|p| p["name"] == name).cloned().unwrap()
}

#[actix_rt::test]
async fn polled_changes_reach_a_subscription_receiver_as_notification_bundles() {
    let fhir = SimFhir::start(VersionIds::Uuid).unwrap();
    fhir.put(&json!({"resourceType": "Patient", "id": "p1", "birthDate": "1970-01-01"}));
    let booked = json!({"resourceType": "Appointment", "id": "a1", "status": "booked",
        "participant": [{"actor": {"reference": "Patient/p1"}, "status": "accepted"}]});
    fhir.put(&booked);
    let mut spec = FhirSpec::new(&fhir.base_url());
    spec.destination_extra = "format = \"fhir-subscription\"\npayload = \"full-resource\"".into();
    spec.resources = vec![
        "type = \"Appointment\"\nenrich = [\"participant.actor:Patient\"]\ndeletes = true".into(),
    ];
    let t = spawn_fhir_app(&spec);
    let arrived = |n: usize| t.receiver.unique_accepted_ids() >= n;
    eventually("the booking", PATIENCE, || arrived(1)).await;
    let mut cancelled = booked.clone();
    cancelled["status"] = json!("cancelled");
    fhir.put(&cancelled);
    eventually("the cancellation", PATIENCE, || arrived(2)).await;
    fhir.delete("Appointment", "a1");
    eventually("the deletion", PATIENCE, || arrived(3)).await;

    let mut bundles: Vec<Value> = t.receiver.accepted().into_iter().map(|r| r.json).collect();
    bundles.dedup_by(|a, b| a == b);
    let focus = json!({"reference": format!("{}/Appointment/a1", fhir.base_url())});
    let mut seen = Vec::new();
    for bundle in &bundles {
        assert_eq!(bundle["type"], "history");
        let event = parameter(bundle, "notification-event")["part"].clone();
        assert!(
            event
                .as_array()
                .unwrap()
                .contains(&json!({"name": "focus", "valueReference": focus})),
            "{event}"
        );
        let topic = parameter(bundle, "topic")["valueCanonical"].clone();
        let urls: Vec<&str> = bundle["entry"].as_array().unwrap()[1..]
            .iter()
            .map(|e| e["fullUrl"].as_str().unwrap())
            .collect();
        let count = parameter(bundle, "events-since-subscription-start")["valueString"].clone();
        seen.push(format!(
            "{} {} {}",
            count.as_str().unwrap(),
            topic.as_str().unwrap(),
            urls.len()
        ));
    }
    assert_eq!(
        seen,
        [
            "1 urn:courier:topic:Appointment.new 2",
            "2 urn:courier:topic:Appointment.cancelled 2",
            "3 urn:courier:topic:Appointment.deleted 1",
        ],
        "sequence, event and entries (appointment and patient; the deleted focus alone)"
    );
    for parsed in parse_bundles(&bundles) {
        assert!(parsed.get("error").is_none(), "{parsed}");
    }
}
