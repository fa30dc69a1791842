//! `source = "fhir"` against the simulated FHIR server: gap-free keyset paging (the offset
//! race, ties at page edges, late commits inside the lag), opaque version ids, no-op updates,
//! deletions, refused answers, and enrichment, each seen in the notifications received.

use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{SecondsFormat, Utc};
use courier_sim::{FhirFault, SimFhir, VersionIds};
use serde_json::{json, Value};

use crate::support::app::{eventually, PATIENCE};
use crate::support::fhir::{spawn_fhir_app, FhirApp, FhirSpec};

fn appointment(id: &str, patient: &str, status: &str) -> Value {
    json!({
        "resourceType": "Appointment", "id": id, "status": status,
        "participant": [{"actor": {"reference": format!("Patient/{patient}")}, "status": "accepted"}]
    })
}

/// An instant `secs` seconds after a fixed point an hour ago, at millisecond precision.
fn past(secs: i64) -> String {
    let base = Utc::now() - chrono::Duration::hours(1);
    let base = base.to_rfc3339_opts(SecondsFormat::Secs, true);
    let base = chrono::DateTime::parse_from_rfc3339(&base).unwrap();
    (base + chrono::Duration::seconds(secs)).to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut all: Vec<_> = list
        .iter()
        .map(|(f, v)| ((*f).to_owned(), (*v).to_owned()))
        .collect();
    all.sort();
    all
}

async fn wait_for(t: &FhirApp, count: usize) {
    eventually(&format!("{count} notifications"), PATIENCE, || {
        t.receiver.unique_accepted_ids() >= count
    })
    .await;
}

/// A dozen more polls (600 ms at the 50 ms interval), all delivered, so a notification that
/// should not come has had its chance to.
async fn settle(t: &FhirApp) {
    t.settle(12).await;
}

#[actix_rt::test]
async fn an_update_between_page_one_and_page_two_does_not_hide_another_resource() {
    let fhir = SimFhir::start(VersionIds::Counter).unwrap();
    let times: Vec<String> = (1..=5).map(past).collect();
    for (n, at) in times.iter().enumerate() {
        let id = format!("a{}", n + 1);
        fhir.put_at(&appointment(&id, "p1", "booked"), at, None);
    }
    // Before page 2, a1 (on page 1) is updated: with offset paging, everything shifts one
    // place down and a3 would fall between the pages.
    let control = fhir.clone_control();
    let late = past(100);
    let done = AtomicBool::new(false);
    fhir.on_search(move |n| {
        if n == 2 && !done.swap(true, Ordering::SeqCst) {
            control.put_at(&appointment("a1", "p1", "arrived"), &late, None);
        }
    });
    let mut spec = FhirSpec::new(&fhir.base_url());
    spec.page_size = 2;
    let t = spawn_fhir_app(&spec);
    wait_for(&t, 6).await;
    settle(&t).await;
    let expected = pairs(&[
        ("Appointment/a1", "1"),
        ("Appointment/a1", "2"),
        ("Appointment/a2", "1"),
        ("Appointment/a3", "1"),
        ("Appointment/a4", "1"),
        ("Appointment/a5", "1"),
    ]);
    assert_eq!(t.versions(), expected);
}

#[actix_rt::test]
async fn resources_sharing_a_timestamp_across_page_edges_are_all_delivered() {
    let fhir = SimFhir::start(VersionIds::Counter).unwrap();
    fhir.put_at(&appointment("a1", "p1", "booked"), &past(1), None);
    // Five at one instant: more than two pages of two, starting inside the first page.
    for n in 2..=6 {
        fhir.put_at(
            &appointment(&format!("a{n}"), "p1", "booked"),
            &past(2),
            None,
        );
    }
    fhir.put_at(&appointment("a7", "p1", "booked"), &past(3), None);
    let mut spec = FhirSpec::new(&fhir.base_url());
    spec.page_size = 2;
    let t = spawn_fhir_app(&spec);
    wait_for(&t, 7).await;
    settle(&t).await;
    let ids: Vec<String> = t.versions().into_iter().map(|(f, _)| f).collect();
    let expected: Vec<String> = (1..=7).map(|n| format!("Appointment/a{n}")).collect();
    assert_eq!(ids, expected);
}

#[actix_rt::test]
async fn an_instant_larger_than_the_server_allows_in_one_page_is_read_by_its_links() {
    let fhir = SimFhir::start(VersionIds::Counter).unwrap();
    // 25 at one instant, pages of 2, and a server that answers at most 3 per page: the
    // instant cannot be read in one answer.
    fhir.set_max_count(3);
    for n in 1..=25 {
        fhir.put_at(
            &appointment(&format!("a{n:02}"), "p1", "booked"),
            &past(1),
            None,
        );
    }
    fhir.put_at(&appointment("b", "p1", "booked"), &past(2), None);
    let mut spec = FhirSpec::new(&fhir.base_url());
    spec.page_size = 2;
    let t = spawn_fhir_app(&spec);
    wait_for(&t, 26).await;
    settle(&t).await;
    let ids: Vec<String> = t.versions().into_iter().map(|(f, _)| f).collect();
    let mut expected: Vec<String> = (1..=25).map(|n| format!("Appointment/a{n:02}")).collect();
    expected.push("Appointment/b".to_owned());
    assert_eq!(ids, expected);
}

#[actix_rt::test]
async fn a_write_committed_late_inside_the_lag_is_not_skipped() {
    let fhir = SimFhir::start(VersionIds::Counter).unwrap();
    let mut spec = FhirSpec::new(&fhir.base_url());
    spec.lag_secs = 2.0;
    let t = spawn_fhir_app(&spec);
    fhir.put(&appointment("a1", "p1", "booked"));
    wait_for(&t, 1).await;
    // Polls went on for two seconds past a1; now a transaction that took its timestamp
    // 1.5 s ago commits. Without the lag, the cursor would already be past that instant.
    let stamped = (Utc::now() - chrono::Duration::milliseconds(1500))
        .to_rfc3339_opts(SecondsFormat::Millis, true);
    fhir.put_at(&appointment("a2", "p1", "booked"), &stamped, None);
    wait_for(&t, 2).await;
    assert_eq!(
        t.versions(),
        pairs(&[("Appointment/a1", "1"), ("Appointment/a2", "1")])
    );
}

#[actix_rt::test]
async fn opaque_version_ids_in_no_order_are_each_a_change() {
    let fhir = SimFhir::start(VersionIds::Uuid).unwrap();
    // Version ids that sort backwards: only equality may be used on them.
    let versions = [
        "f0000000-0000-4000-8000-000000000000",
        "0a000000-0000-4000-8000-000000000000",
        "05000000-0000-4000-8000-000000000000",
    ];
    let statuses = ["booked", "arrived", "fulfilled"];
    let mut spec = FhirSpec::new(&fhir.base_url());
    spec.page_size = 1;
    let t = spawn_fhir_app(&spec);
    for (n, (version, status)) in versions.iter().zip(statuses).enumerate() {
        // Written now, not in the past: with no lag, Courier's cursor is already at the
        // server's clock once it has read the version before (pages are read back to back).
        let now = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
        fhir.put_at(&appointment("a1", "p1", status), &now, Some(version));
        wait_for(&t, n + 1).await;
    }
    let other = fhir.put(&appointment("a2", "p1", "booked"));
    wait_for(&t, 4).await;
    settle(&t).await;
    let mut expected: Vec<(&str, &str)> = versions.iter().map(|v| ("Appointment/a1", *v)).collect();
    let uuid = other["meta"]["versionId"].as_str().unwrap();
    expected.push(("Appointment/a2", uuid));
    assert_eq!(t.versions(), pairs(&expected));
    assert_eq!(uuid.len(), 36, "the server's own version ids are UUIDs");
}

#[actix_rt::test]
async fn a_no_op_update_sends_nothing_and_the_next_real_change_says_what_changed() {
    let fhir = SimFhir::start(VersionIds::Counter).unwrap();
    let t = spawn_fhir_app(&FhirSpec::new(&fhir.base_url()));
    fhir.put(&appointment("a1", "p1", "booked"));
    wait_for(&t, 1).await;
    // Same content, new version: a no-op.
    let noop = fhir.put(&appointment("a1", "p1", "booked"));
    assert_eq!(noop["meta"]["versionId"], "2");
    fhir.put(&appointment("a2", "p1", "booked"));
    wait_for(&t, 2).await;
    fhir.put(&appointment("a1", "p1", "cancelled"));
    wait_for(&t, 3).await;
    settle(&t).await;
    let changes = t.changes();
    let summary: Vec<(&str, &str, &str)> = changes
        .iter()
        .map(|c| (c.event_type.as_str(), c.focus.as_str(), c.version.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            ("Appointment.new", "Appointment/a1", "1"),
            ("Appointment.new", "Appointment/a2", "1"),
            ("Appointment.cancelled", "Appointment/a1", "3"),
        ]
    );
    assert_eq!(
        changes[2].body["data"]["changed_elements"],
        json!(["status"])
    );
    assert_eq!(
        changes[2].body["data"]["resources"]["Appointment"]["status"],
        "cancelled"
    );
    let cursor = t.status().cursor.unwrap();
    let noop_at = noop["meta"]["lastUpdated"].as_str().unwrap();
    assert!(
        cursor.trim_start_matches("Appointment:") > noop_at,
        "the cursor moved past the no-op: {cursor}"
    );
}

#[actix_rt::test]
async fn what_was_seen_survives_a_restart() {
    let fhir = SimFhir::start(VersionIds::Counter).unwrap();
    let t = spawn_fhir_app(&FhirSpec::new(&fhir.base_url()));
    fhir.put(&appointment("a1", "p1", "booked"));
    wait_for(&t, 1).await;
    let t = t.restarted().await;
    fhir.put(&appointment("a1", "p1", "cancelled"));
    wait_for(&t, 2).await;
    settle(&t).await;
    let types: Vec<String> = t.changes().into_iter().map(|c| c.event_type).collect();
    assert_eq!(
        types,
        ["Appointment.new", "Appointment.cancelled"],
        "the cancellation is told from the stored fingerprint, and version 1 is not sent again"
    );
}

#[actix_rt::test]
async fn a_deleted_resource_is_notified_once_as_deleted() {
    let fhir = SimFhir::start(VersionIds::Counter).unwrap();
    let mut spec = FhirSpec::new(&fhir.base_url());
    spec.resources = vec!["type = \"Appointment\"\ndeletes = true".to_owned()];
    let t = spawn_fhir_app(&spec);
    fhir.put(&appointment("a1", "p1", "booked"));
    fhir.put(&appointment("a2", "p1", "booked"));
    wait_for(&t, 2).await;
    fhir.delete("Appointment", "a1");
    wait_for(&t, 3).await;
    settle(&t).await;
    let changes = t.changes();
    assert_eq!(changes.len(), 3, "{changes:?}");
    let deleted = &changes[2];
    assert_eq!(deleted.event_type, "Appointment.deleted");
    assert_eq!(deleted.focus, "Appointment/a1");
    assert_eq!(deleted.body["data"]["resources"], json!({}));
    assert!(t.status().warnings.is_empty());
}

#[actix_rt::test]
async fn a_resource_deleted_and_written_again_ends_live() {
    let fhir = SimFhir::start(VersionIds::Counter).unwrap();
    let mut spec = FhirSpec::new(&fhir.base_url());
    spec.lag_secs = 1.0;
    spec.resources = vec!["type = \"Appointment\"\ndeletes = true".to_owned()];
    let t = spawn_fhir_app(&spec);
    fhir.put(&appointment("a1", "p1", "booked"));
    wait_for(&t, 1).await;
    // Both inside one lag window, so one round reads them together.
    fhir.delete("Appointment", "a1");
    let later = (Utc::now() + chrono::Duration::milliseconds(20))
        .to_rfc3339_opts(SecondsFormat::Millis, true);
    fhir.put_at(&appointment("a1", "p1", "arrived"), &later, None);
    eventually("the new version", PATIENCE, || {
        t.changes().iter().any(|c| c.version == "3")
    })
    .await;
    settle(&t).await;
    let mut changes = t.changes();
    changes.sort_by_key(|c| c.body["data"]["sequence"].as_u64());
    let events: Vec<(String, String)> = changes
        .into_iter()
        .map(|c| (c.event_type, c.version))
        .collect();
    let told_in_order = [
        ("Appointment.new", "1"),
        ("Appointment.deleted", "2"),
        ("Appointment.new", "3"),
    ];
    // When the deletion falls out of the window that first sees version 3 (a `Date` second
    // ticking between the two reads), it is superseded: version 3 is told as a change of 1.
    let coalesced = [("Appointment.new", "1"), ("Appointment.arrived", "3")];
    let as_owned = |list: &[(&str, &str)]| -> Vec<(String, String)> {
        list.iter()
            .map(|(e, v)| ((*e).to_owned(), (*v).to_owned()))
            .collect()
    };
    assert!(
        events == as_owned(&told_in_order) || events == as_owned(&coalesced),
        "in sequence order, the last word on a1 must be that it lives: {events:?}"
    );
}

#[actix_rt::test]
async fn a_server_without_type_history_is_reported_in_status() {
    let fhir = SimFhir::start(VersionIds::Counter).unwrap();
    fhir.set_type_history(false);
    let mut spec = FhirSpec::new(&fhir.base_url());
    spec.resources = vec!["type = \"Appointment\"\ndeletes = true".to_owned()];
    let t = spawn_fhir_app(&spec);
    fhir.put(&appointment("a1", "p1", "booked"));
    wait_for(&t, 1).await;
    eventually("a warning in status", PATIENCE, || {
        t.status()
            .warnings
            .iter()
            .any(|w| w.contains("does not declare history-type for Appointment"))
    })
    .await;
}

#[actix_rt::test]
async fn refused_search_answers_are_errors_that_keep_the_cursor() {
    let fhir = SimFhir::start(VersionIds::Counter).unwrap();
    fhir.put_at(&appointment("a1", "p1", "booked"), &past(1), None);
    fhir.fail_searches(FhirFault::OperationOutcome, 1);
    fhir.fail_searches(FhirFault::WrongBundleType, 1);
    fhir.fail_searches(FhirFault::Status(400), 1);
    let t = spawn_fhir_app(&FhirSpec::new(&fhir.base_url()));
    // Any of the three taken as an empty page would move the cursor past a1 for good.
    wait_for(&t, 1).await;
    settle(&t).await;
    assert_eq!(t.versions(), pairs(&[("Appointment/a1", "1")]));
    let status = t.status();
    assert!(status.polls_failed >= 3, "{status:?}");
    assert!(fhir.searches() >= 4);
}

#[actix_rt::test]
async fn a_refused_search_shows_in_status_while_it_lasts() {
    let fhir = SimFhir::start(VersionIds::Counter).unwrap();
    fhir.fail_searches(FhirFault::OperationOutcome, 1000);
    let t = spawn_fhir_app(&FhirSpec::new(&fhir.base_url()));
    eventually("the error in status", PATIENCE, || {
        t.status()
            .last_error
            .is_some_and(|e| e.contains("OperationOutcome (error too-costly)"))
    })
    .await;
}

#[actix_rt::test]
async fn references_are_followed_once_and_included_resources_save_the_fetch() {
    let fhir = SimFhir::start(VersionIds::Counter).unwrap();
    fhir.put(&json!({"resourceType": "Patient", "id": "p1", "birthDate": "1970-01-01"}));
    fhir.put(&json!({"resourceType": "Location", "id": "l1", "name": "Room 1"}));
    let mut booked = appointment("a1", "p1", "booked");
    booked["participant"] = json!([
        {"actor": {"reference": "Patient/p1"}, "status": "accepted"},
        {"actor": {"reference": format!("{}/Location/l1", fhir.base_url())}, "status": "accepted"},
        {"actor": {"reference": "Patient/p1"}, "status": "accepted"}
    ]);
    fhir.put(&booked);
    let enrich = "enrich = [\"participant.actor:Patient\", \"participant.actor:Location\"]";
    let mut spec = FhirSpec::new(&fhir.base_url());
    spec.resources = vec![format!("type = \"Appointment\"\n{enrich}")];
    let t = spawn_fhir_app(&spec);
    wait_for(&t, 1).await;
    let data = &t.changes()[0].body["data"];
    assert_eq!(data["focus"], "Appointment/a1");
    assert_eq!(data["resources"]["Appointment"]["id"], "a1");
    assert_eq!(
        data["resources"]["Patient"]["id"], "p1",
        "one patient, once"
    );
    assert_eq!(data["resources"]["Location"]["name"], "Room 1");
    assert_eq!(fhir.reads(), 2, "each reference fetched once");

    let other = SimFhir::start(VersionIds::Counter).unwrap();
    other.put(&json!({"resourceType": "Patient", "id": "p1"}));
    other.put(&appointment("a1", "p1", "booked"));
    let mut spec = FhirSpec::new(&other.base_url());
    spec.resources = vec![format!(
        "type = \"Appointment\"\nparams = \"_include=Appointment:actor\"\nenrich = [\"participant.actor:Patient\"]"
    )];
    let t = spawn_fhir_app(&spec);
    wait_for(&t, 1).await;
    assert_eq!(
        t.changes()[0].body["data"]["resources"]["Patient"]["id"],
        "p1"
    );
    assert_eq!(other.reads(), 0, "the included patient was used");
}
