//! The notification Bundle's shape, for both payloads, on the official HL7 R4 examples.

use serde_json::{json, Value};
use url::Url;

use super::*;
use crate::fhir::testdata;

const BASE: &str = "https://fhir.example.org/R4";

/// The appointment example as a server returns it (with `meta`).
fn appointment() -> Value {
    let mut appointment = testdata::appointment();
    appointment["meta"] = json!({"versionId": "3", "lastUpdated": "2026-11-26T09:59:58.120Z"});
    appointment
}

/// A standard body of a FHIR source, shaped as the FHIR notifications are.
fn body(event_type: &str, focus: &str, resources: Value) -> Value {
    json!({
        "id": "msg_0123456789abcdef0123456789abcdef",
        "type": event_type,
        "timestamp": "2026-11-26T10:00:00.000Z",
        "data": {
            "connection": "hospital-b",
            "sequence": 42,
            "version": "3",
            "focus": focus,
            "resources": resources,
            "changed_elements": ["start", "end"],
        },
    })
}

fn rescheduled() -> Value {
    body(
        "Appointment.rescheduled",
        "Appointment/example",
        json!({"Appointment": appointment(), "Patient": testdata::patient()}),
    )
}

fn bundle(body: &Value, payload: Payload) -> Value {
    let base = Url::parse(BASE).unwrap();
    let origin = Origin {
        connection: "hospital-b",
        base_url: &base,
    };
    notification_bundle(body, &origin, payload)
}

/// The status `Parameters` parameter named `name`.
fn parameter<'a>(bundle: &'a Value, name: &str) -> &'a Value {
    let parameters = bundle["entry"][0]["resource"]["parameter"]
        .as_array()
        .unwrap();
    parameters.iter().find(|p| p["name"] == name).unwrap()
}

/// The parts of the notification event, as (name, value) pairs.
fn event_parts(bundle: &Value) -> Vec<(String, Value)> {
    let parts = parameter(bundle, "notification-event")["part"]
        .as_array()
        .unwrap();
    parts
        .iter()
        .map(|part| {
            let name = part["name"].as_str().unwrap().to_owned();
            let value = part
                .as_object()
                .unwrap()
                .iter()
                .find(|(k, _)| k.starts_with("value"));
            (name, value.unwrap().1.clone())
        })
        .collect()
}

#[test]
fn bundle_is_a_history_bundle_opening_with_the_subscription_status() {
    let bundle = bundle(&rescheduled(), Payload::FullResource);
    assert_eq!(bundle["resourceType"], "Bundle");
    assert_eq!(bundle["type"], "history");
    assert_eq!(bundle["timestamp"], "2026-11-26T10:00:00.000Z");
    assert_eq!(bundle["meta"]["profile"][0], BUNDLE_PROFILE);
    let status = &bundle["entry"][0];
    assert_eq!(status["resource"]["resourceType"], "Parameters");
    assert_eq!(status["resource"]["meta"]["profile"][0], STATUS_PROFILE);
    let status_id = status["resource"]["id"].as_str().unwrap();
    assert_eq!(status["fullUrl"], format!("urn:uuid:{status_id}"));
    assert_eq!(
        status["request"],
        json!({"method": "GET", "url": "Subscription/hospital-b/$status"})
    );
    assert_eq!(status["response"], json!({"status": "200"}));
    let reference = json!({"reference": "Subscription/hospital-b"});
    assert_eq!(
        parameter(&bundle, "subscription")["valueReference"],
        reference
    );
    let topic = "urn:courier:topic:Appointment.rescheduled";
    assert_eq!(parameter(&bundle, "topic")["valueCanonical"], topic);
    assert_eq!(parameter(&bundle, "status")["valueCode"], "active");
    assert_eq!(
        parameter(&bundle, "type")["valueCode"],
        "event-notification"
    );
    let since_start = &parameter(&bundle, "events-since-subscription-start")["valueString"];
    assert_eq!(since_start, "42");
}

#[test]
fn the_event_names_its_number_time_focus_and_related_resources() {
    let focus = format!("{BASE}/Appointment/example");
    for (payload, focus) in [
        (Payload::FullResource, focus.clone()),
        (Payload::IdOnly, format!("{focus}/_history/3")),
    ] {
        let parts = event_parts(&bundle(&rescheduled(), payload));
        let expected = [
            ("event-number", json!("42")),
            ("timestamp", json!("2026-11-26T10:00:00.000Z")),
            ("focus", json!({ "reference": focus })),
            (
                "additional-context",
                json!({"reference": format!("{BASE}/Patient/example")}),
            ),
        ];
        let expected: Vec<_> = expected
            .into_iter()
            .map(|(n, v)| (n.to_owned(), v))
            .collect();
        assert_eq!(parts, expected, "{payload:?}");
    }
}

/// Issue 12: an `id-only` notification did not say which version changed, so a receiver
/// reading the focus later could get a newer one and never know.
#[test]
fn id_only_names_the_focus_version_when_it_is_a_version_id() {
    let focus = |body: &Value| {
        let parts = event_parts(&bundle(body, Payload::IdOnly));
        let (_, focus) = parts.into_iter().find(|(n, _)| n == "focus").unwrap();
        focus["reference"].as_str().unwrap().to_owned()
    };
    let plain = format!("{BASE}/Appointment/example");
    assert_eq!(focus(&rescheduled()), format!("{plain}/_history/3"));
    // What stands in for a version a server did not give is no version id.
    for stand_in in [
        "2026-11-26T09:59:58.120Z",
        "deleted@2026-11-26T09:59:58+00:00",
    ] {
        let mut body = rescheduled();
        body["data"]["version"] = json!(stand_in);
        assert_eq!(focus(&body), plain, "{stand_in}");
    }
}

#[test]
fn full_resource_carries_the_focus_then_the_related_resources() {
    let bundle = bundle(&rescheduled(), Payload::FullResource);
    let entries = bundle["entry"].as_array().unwrap();
    assert_eq!(entries.len(), 3);
    let focus = &entries[1];
    assert_eq!(focus["fullUrl"], format!("{BASE}/Appointment/example"));
    assert_eq!(focus["resource"], appointment());
    assert_eq!(
        focus["request"],
        json!({"method": "PUT", "url": "Appointment/example"})
    );
    assert_eq!(
        focus["response"],
        json!({"status": "200", "etag": "W/\"3\"", "lastModified": "2026-11-26T09:59:58.120Z"})
    );
    let patient = &entries[2];
    assert_eq!(patient["fullUrl"], format!("{BASE}/Patient/example"));
    assert_eq!(patient["resource"], testdata::patient());
    assert_eq!(
        patient["request"],
        json!({"method": "GET", "url": "Patient/example"})
    );
    assert_eq!(patient["response"], json!({"status": "200"}));
}

#[test]
fn id_only_carries_no_resource() {
    let bundle = bundle(&rescheduled(), Payload::IdOnly);
    assert_eq!(bundle["entry"].as_array().unwrap().len(), 1);
    assert!(
        !bundle.to_string().contains("Chalmers"),
        "no patient detail"
    );
}

#[test]
fn a_first_seen_resource_is_a_create() {
    let new = body(
        "Appointment.new",
        "Appointment/example",
        json!({"Appointment": appointment()}),
    );
    let focus = &bundle(&new, Payload::FullResource)["entry"][1];
    assert_eq!(
        focus["request"],
        json!({"method": "POST", "url": "Appointment"})
    );
    assert_eq!(focus["response"]["status"], "201");
    let created = body(
        "Patient.created",
        "Patient/example",
        json!({"Patient": testdata::patient()}),
    );
    let focus = &bundle(&created, Payload::FullResource)["entry"][1];
    assert_eq!(focus["request"]["method"], "POST");
}

#[test]
fn a_delete_is_a_delete_entry_without_a_resource() {
    let deleted = body("Appointment.deleted", "Appointment/example", json!({}));
    let bundle = bundle(&deleted, Payload::FullResource);
    let focus = &bundle["entry"][1];
    assert_eq!(focus["fullUrl"], format!("{BASE}/Appointment/example"));
    assert_eq!(
        focus["request"],
        json!({"method": "DELETE", "url": "Appointment/example"})
    );
    assert_eq!(focus["response"], json!({"status": "204"}));
    assert!(focus.get("resource").is_none());
}

#[test]
fn several_resources_of_a_type_missing_ones_and_repeats_are_handled() {
    let mut other = testdata::patient();
    other["id"] = json!("other");
    let resources = json!({
        "Appointment": appointment(),
        "Patient": [testdata::patient(), other, testdata::patient()],
        "Location": null,
    });
    let bundle = bundle(
        &body("Appointment.cancelled", "Appointment/example", resources),
        Payload::FullResource,
    );
    let urls: Vec<&str> = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .skip(1)
        .map(|entry| entry["fullUrl"].as_str().unwrap())
        .collect();
    let expected = ["Appointment/example", "Patient/example", "Patient/other"];
    assert_eq!(urls, expected.map(|path| format!("{BASE}/{path}")));
}

#[test]
fn a_focus_among_resources_of_its_own_type_is_picked_by_id() {
    let mut linked = testdata::patient();
    linked["id"] = json!("linked");
    let resources = json!({"Patient": [linked, testdata::patient()]});
    let bundle = bundle(
        &body("Patient.updated", "Patient/example", resources),
        Payload::FullResource,
    );
    assert_eq!(bundle["entry"][1]["resource"]["id"], "example");
    assert_eq!(bundle["entry"][1]["request"]["method"], "PUT");
    assert_eq!(bundle["entry"][2]["resource"]["id"], "linked");
    assert_eq!(bundle["entry"][2]["request"]["method"], "GET");
}

#[test]
fn ids_are_uuids_derived_from_the_notification_id() {
    let first = bundle(&rescheduled(), Payload::FullResource);
    let again = bundle(&rescheduled(), Payload::FullResource);
    assert_eq!(first, again, "a retry or duplicate gets the same Bundle");
    let mut other_body = rescheduled();
    other_body["id"] = json!("msg_ffffffffffffffffffffffffffffffff");
    let other = bundle(&other_body, Payload::FullResource);
    let bundle_id = first["id"].as_str().unwrap();
    let status_id = first["entry"][0]["resource"]["id"].as_str().unwrap();
    assert_ne!(bundle_id, status_id);
    assert_ne!(bundle_id, other["id"].as_str().unwrap());
    for id in [bundle_id, status_id] {
        let groups: Vec<usize> = id.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12], "{id}");
        assert!(id.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
        assert_eq!(&id[14..15], "8", "version 8: {id}");
        assert!("89ab".contains(&id[19..20]), "RFC variant: {id}");
    }
}

#[test]
fn subscription_ids_stay_valid_fhir_ids() {
    assert_eq!(
        subscription_reference("clinic_a-2"),
        "Subscription/clinic.a-2"
    );
    assert_ne!(subscription_reference("a_b"), subscription_reference("a-b"));
}

#[test]
fn a_base_url_with_a_trailing_slash_gives_the_same_urls() {
    let base = Url::parse("https://fhir.example.org/R4/").unwrap();
    let origin = Origin {
        connection: "hospital-b",
        base_url: &base,
    };
    let bundle = notification_bundle(&rescheduled(), &origin, Payload::FullResource);
    assert_eq!(
        bundle["entry"][1]["fullUrl"],
        format!("{BASE}/Appointment/example")
    );
}

#[test]
fn a_body_without_a_focus_gives_an_event_without_one() {
    let mut body = rescheduled();
    body["data"].as_object_mut().unwrap().remove("focus");
    body["data"]["resources"] = json!({"appointment": {"id": "appt-1"}});
    let bundle = bundle(&body, Payload::FullResource);
    let names: Vec<String> = event_parts(&bundle).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["event-number", "timestamp"]);
    assert_eq!(bundle["entry"].as_array().unwrap().len(), 1);
}
