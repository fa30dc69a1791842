//! Fingerprints and event classification on the official HL7 R4 examples.

use serde_json::{json, Value};

use super::*;
use crate::fhir::testdata;

fn fp(resource: &Value) -> Fingerprint {
    Fingerprint::of(resource)
}

/// The appointment example edited by `edit`, as a server would return its next version.
fn next_appointment(edit: impl FnOnce(&mut Value)) -> Value {
    let mut next = testdata::appointment();
    edit(&mut next);
    next
}

fn classify_appointment_edit(edit: impl FnOnce(&mut Value)) -> Classified {
    let before = fp(&testdata::appointment());
    let after = fp(&next_appointment(edit));
    classify("Appointment", Some(&before), Some(&after))
}

#[test]
fn key_order_does_not_change_the_fingerprint() {
    let a = json!({"resourceType": "Patient", "id": "p", "name": [{"family": "X", "given": ["Y"]}], "active": true});
    let b = json!({"active": true, "name": [{"given": ["Y"], "family": "X"}], "id": "p", "resourceType": "Patient"});
    assert_eq!(fp(&a), fp(&b));
}

#[test]
fn fingerprint_is_pinned_so_it_survives_restarts_and_upgrades() {
    // A changed hash would turn every stored resource into an update after an upgrade. The
    // values are SHA-256 computed outside Courier (Python `hashlib`) over the documented bytes:
    // element `true\0null` (value, NUL, no extension); content `be64(6) "active" be64(hash)`.
    let stored =
        serde_json::to_value(fp(&json!({"resourceType": "Patient", "active": true}))).unwrap();
    assert_eq!(
        stored,
        json!({"c": 437566745267357887u64, "e": {"active": 4770488857869644796u64}})
    );
}

#[test]
fn meta_text_and_id_are_not_content() {
    let before = testdata::patient();
    let mut after = before.clone();
    after["meta"] = json!({"versionId": "2", "lastUpdated": "2026-11-26T10:00:00Z"});
    after["text"]["div"] = json!("<div xmlns=\"http://www.w3.org/1999/xhtml\">regenerated</div>");
    after["id"] = json!("other");
    assert!(fp(&before).same_content(&fp(&after)));
    let classified = classify("Patient", Some(&fp(&before)), Some(&fp(&after)));
    assert_eq!(classified.event_type, "Patient.updated");
    assert!(classified.changed_elements.is_empty());
}

#[test]
fn a_content_change_is_not_same_content() {
    let before = testdata::patient();
    let mut after = before.clone();
    after["active"] = json!(false);
    assert!(!fp(&before).same_content(&fp(&after)));
}

#[test]
fn the_stored_fingerprint_holds_no_clinical_value_or_name() {
    let stored = serde_json::to_string(&fp(&testdata::patient())).unwrap();
    for detail in ["Chalmers", "Peter", "1974-12-25", "Erewhon", "12345"] {
        assert!(!stored.contains(detail), "{detail} stored in {stored}");
    }
    let stored = serde_json::to_string(&fp(&testdata::appointment())).unwrap();
    for detail in ["MRI", "Chalmers", "Condition/example", "Patient/example"] {
        assert!(!stored.contains(detail), "{detail} stored in {stored}");
    }
    // Only the three scheduling values are kept in clear.
    let schedule = &serde_json::from_str::<Value>(&stored).unwrap()["a"];
    assert_eq!(
        schedule,
        &json!({"status": "booked", "start": "2013-12-10T09:00:00Z", "end": "2013-12-10T11:00:00Z"})
    );
}

#[test]
fn fingerprint_round_trips_through_its_stored_form() {
    for resource in [testdata::patient(), testdata::appointment()] {
        let fingerprint = fp(&resource);
        let stored = serde_json::to_vec(&fingerprint).unwrap();
        assert_eq!(
            serde_json::from_slice::<Fingerprint>(&stored).unwrap(),
            fingerprint
        );
    }
}

#[test]
fn first_seen_resource_is_created_with_every_element() {
    let patient = testdata::patient();
    let classified = classify("Patient", None, Some(&fp(&patient)));
    assert_eq!(classified.event_type, "Patient.created");
    assert_eq!(
        classified.changed_elements,
        [
            "active",
            "address",
            "birthDate",
            "contact",
            "deceasedBoolean",
            "gender",
            "identifier",
            "managingOrganization",
            "name",
            "telecom"
        ]
    );
}

#[test]
fn update_lists_changed_added_and_removed_elements() {
    let before = testdata::patient();
    let mut after = before.clone();
    after["gender"] = json!("female");
    after["maritalStatus"] = json!({"text": "Married"});
    after.as_object_mut().unwrap().remove("telecom");
    let classified = classify("Patient", Some(&fp(&before)), Some(&fp(&after)));
    assert_eq!(classified.event_type, "Patient.updated");
    assert_eq!(
        classified.changed_elements,
        ["gender", "maritalStatus", "telecom"]
    );
}

#[test]
fn a_primitive_extension_change_is_a_change_of_its_element() {
    let before = testdata::patient();
    let mut after = before.clone();
    after["_birthDate"]["extension"][0]["valueDateTime"] = json!("1974-12-25T14:36:00-05:00");
    let classified = classify("Patient", Some(&fp(&before)), Some(&fp(&after)));
    assert_eq!(classified.changed_elements, ["birthDate"]);
}

#[test]
fn delete_is_deleted_with_no_changed_elements() {
    let seen = fp(&testdata::patient());
    let classified = classify("Patient", Some(&seen), None);
    assert_eq!(classified.event_type, "Patient.deleted");
    assert!(classified.changed_elements.is_empty());
    // A delete of a resource never seen (only in `_history`) is still a delete.
    assert_eq!(
        classify("Patient", None, None).event_type,
        "Patient.deleted"
    );
}

#[test]
fn first_seen_appointment_is_new() {
    let appointment = fp(&testdata::appointment());
    let classified = classify("Appointment", None, Some(&appointment));
    assert_eq!(classified.event_type, "Appointment.new");
    assert!(classified
        .changed_elements
        .contains(&"participant".to_owned()));
    assert!(!classified.changed_elements.contains(&"text".to_owned()));
}

#[test]
fn deleted_appointment_is_deleted() {
    let appointment = fp(&testdata::appointment());
    let classified = classify("Appointment", Some(&appointment), None);
    assert_eq!(classified.event_type, "Appointment.deleted");
    assert!(classified.changed_elements.is_empty());
}

#[test]
fn moved_start_and_end_is_rescheduled() {
    let classified = classify_appointment_edit(|a| {
        a["start"] = json!("2013-12-11T09:00:00Z");
        a["end"] = json!("2013-12-11T11:00:00Z");
    });
    assert_eq!(classified.event_type, "Appointment.rescheduled");
    assert_eq!(classified.changed_elements, ["end", "start"]);
}

#[test]
fn moved_end_alone_is_rescheduled() {
    let classified = classify_appointment_edit(|a| a["end"] = json!("2013-12-10T11:30:00Z"));
    assert_eq!(classified.event_type, "Appointment.rescheduled");
}

#[test]
fn the_same_instant_written_differently_is_not_a_reschedule() {
    let classified =
        classify_appointment_edit(|a| a["start"] = json!("2013-12-10T10:00:00.000+01:00"));
    assert_eq!(classified.event_type, "Appointment.modified");
    assert_eq!(classified.changed_elements, ["start"]);
}

#[test]
fn status_to_cancelled_noshow_or_arrived_names_the_event() {
    for status in ["cancelled", "noshow", "arrived"] {
        let classified = classify_appointment_edit(|a| a["status"] = json!(status));
        assert_eq!(classified.event_type, format!("Appointment.{status}"));
        assert_eq!(classified.changed_elements, ["status"]);
    }
}

#[test]
fn cancellation_wins_over_a_moved_time() {
    let classified = classify_appointment_edit(|a| {
        a["status"] = json!("cancelled");
        a["cancelationReason"] = json!({"text": "patient request"});
        a["start"] = json!("2013-12-12T09:00:00Z");
    });
    assert_eq!(classified.event_type, "Appointment.cancelled");
    assert_eq!(
        classified.changed_elements,
        ["cancelationReason", "start", "status"]
    );
}

#[test]
fn other_edits_and_other_status_changes_are_modified() {
    let comment = classify_appointment_edit(|a| a["comment"] = json!("Bring the MRI films."));
    assert_eq!(comment.event_type, "Appointment.modified");
    assert_eq!(comment.changed_elements, ["comment"]);
    let fulfilled = classify_appointment_edit(|a| a["status"] = json!("fulfilled"));
    assert_eq!(fulfilled.event_type, "Appointment.modified");
}

#[test]
fn an_edit_of_an_already_cancelled_appointment_is_modified() {
    let cancelled = next_appointment(|a| a["status"] = json!("cancelled"));
    let mut edited = cancelled.clone();
    edited["comment"] = json!("Cancelled by phone.");
    let classified = classify("Appointment", Some(&fp(&cancelled)), Some(&fp(&edited)));
    assert_eq!(classified.event_type, "Appointment.modified");
}

#[test]
fn rebooking_a_cancelled_appointment_at_a_new_time_is_rescheduled() {
    let cancelled = next_appointment(|a| a["status"] = json!("cancelled"));
    let rebooked = next_appointment(|a| a["start"] = json!("2013-12-17T09:00:00Z"));
    let classified = classify("Appointment", Some(&fp(&cancelled)), Some(&fp(&rebooked)));
    assert_eq!(classified.event_type, "Appointment.rescheduled");
    assert_eq!(classified.changed_elements, ["start", "status"]);
}
