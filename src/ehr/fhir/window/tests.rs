//! The window search's pure parts: dates, matches as listed records, the query, events.

use serde_json::json;

use super::*;
use crate::config::FhirMode;
use crate::ehr::fixtures;
use crate::window::{TimeExpr, TimeTemplate};

fn resource(window: FhirWindow) -> FhirResource {
    FhirResource {
        type_name: "Appointment".into(),
        params: Vec::new(),
        enrich: Vec::new(),
        deletes: false,
        mode: FhirMode::Snapshot(window),
    }
}

fn search() -> FhirWindow {
    FhirWindow {
        query: TimeTemplate::parse("date=ge{today-1d}&date=le{today+14d}").unwrap(),
        window: Window {
            start: TimeExpr::parse("today-1d").unwrap(),
            end: TimeExpr::parse("today+15d").unwrap(),
        },
        date_pointer: "/start".into(),
        initial: Initial::Baseline,
    }
}

#[test]
fn a_date_an_instant_and_a_date_time_with_an_offset_are_dates() {
    assert_eq!(date_seconds("2026-12-06"), Some(1_796_515_200));
    assert_eq!(date_seconds("2026-12-06T00:00:00Z"), Some(1_796_515_200));
    assert_eq!(
        date_seconds("2026-12-06T01:00:00+01:00"),
        Some(1_796_515_200)
    );
    assert_eq!(date_seconds("6 Dec 2026"), None);
    assert_eq!(date_seconds("2026-12"), None);
}

#[test]
fn the_query_asks_for_the_window_at_the_listing_start_and_the_page_size() {
    let config = fixtures::connection();
    let window = search();
    let resource = resource(window.clone());
    let lister = WindowLister::new(&config, &resource, &window, 50);
    let now = "2026-12-06T12:00:00Z".parse().unwrap();
    assert_eq!(
        lister.query(now),
        "date=ge2026-12-05&date=le2026-12-20&_count=50"
    );
    assert_eq!(lister.scope(), "Appointment");
}

/// A match becomes `Type/id`, dated by `date_pointer`, fingerprinted by the FHIR rules (a
/// read that only bumped `meta` is the same content); one without a date, of another type
/// or with an id that is not one, is refused rather than listed wrongly.
#[test]
fn a_match_is_keyed_dated_and_fingerprinted_or_refused() {
    let config = fixtures::connection();
    let window = search();
    let resource = resource(window.clone());
    let lister = WindowLister::new(&config, &resource, &window, 50);
    let a1 = json!({"resourceType": "Appointment", "id": "a1", "status": "booked",
        "start": "2026-12-06T00:00:00Z", "meta": {"versionId": "1"}});
    let listed = lister.listed("/Appointment", a1.clone()).unwrap();
    assert_eq!(listed.key, "Appointment/a1");
    assert_eq!(listed.date, 1_796_515_200);
    let mut bumped = a1.clone();
    bumped["meta"] = json!({"versionId": "2", "lastUpdated": "2026-12-06T11:00:00Z"});
    let again = lister.listed("/Appointment", bumped).unwrap();
    assert!(again.fingerprint.same_content(&listed.fingerprint));
    for (broken, reason) in [
        (
            json!({"resourceType": "Appointment", "id": "a1"}),
            "no date",
        ),
        (
            json!({"resourceType": "Patient", "id": "a1", "start": "2026-12-06"}),
            "not a",
        ),
        (
            json!({"resourceType": "Appointment", "id": "a/1", "start": "2026-12-06"}),
            "FHIR id",
        ),
    ] {
        let err = lister.listed("/Appointment", broken).unwrap_err();
        assert!(err.to_string().contains(reason), "{reason}: {err}");
    }
}

#[test]
fn events_are_the_fhir_ones_with_the_focus_and_a_version_that_is_not_a_fhir_id() {
    let events = FhirEvents {
        type_name: "Appointment",
    };
    let booked = json!({"resourceType": "Appointment", "status": "booked",
        "start": "2026-12-06T09:00:00Z"});
    let mut moved = booked.clone();
    moved["start"] = json!("2026-12-07T09:00:00Z");
    let (before, after) = (Fingerprint::of(&booked), Fingerprint::of(&moved));
    assert_eq!(events.created(&before).event_type, "Appointment.new");
    let rescheduled = events.updated(&before, &after);
    assert_eq!(rescheduled.event_type, "Appointment.rescheduled");
    assert_eq!(rescheduled.changed_elements, ["start"]);
    assert_eq!(events.deleted(&after).event_type, "Appointment.deleted");
    assert_eq!(events.removed(&after).event_type, "Appointment.deleted");
    let fhir = events.fhir("Appointment/a1", &rescheduled).unwrap();
    assert_eq!(fhir.focus, "Appointment/a1");
    assert_eq!(fhir.changed_elements, ["start"]);
    let version = events.version(3, 0xab);
    assert_eq!(version, "3:00000000000000ab");
    assert!(!crate::fhir::is_fhir_id(&version));
}
