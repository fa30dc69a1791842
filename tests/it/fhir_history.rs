//! FHIR deletions read from `_history`: a read costs what changed since its cursor, even
//! when the server's `next` links drop `_since`, and a history that fails holds up neither
//! the type's search nor the deletions once it answers again.

use courier_sim::{FhirFault, SimFhir, VersionIds};
use serde_json::{json, Value};

use crate::support::app::{eventually, PATIENCE};
use crate::support::fhir::{spawn_fhir_app, FhirApp, FhirSpec};

const DELETES: &str = "type = \"Appointment\"\ndeletes = true";

fn appointment(id: &str, status: &str) -> Value {
    json!({"resourceType": "Appointment", "id": id, "status": status})
}

async fn wait_for(t: &FhirApp, count: usize) {
    eventually(&format!("{count} notifications"), PATIENCE, || {
        t.receiver.unique_accepted_ids() >= count
    })
    .await;
}

/// Found on sekmet (issue 12): its history links drop `_since`, so each read paged through
/// the type's whole history (10 pages of 7 for 10 changes on top of 60) at every poll.
#[actix_rt::test]
async fn history_links_without_since_are_read_only_back_to_the_cursor() {
    let fhir = SimFhir::start(VersionIds::Counter).unwrap();
    fhir.set_history_links_drop_since(true);
    for n in 1..=60 {
        fhir.put(&appointment(&format!("a{n}"), "booked"));
    }
    let mut spec = FhirSpec::new(&fhir.base_url());
    spec.page_size = 7;
    // Changes stay inside the lag for a second or two: every poll meanwhile reads them again.
    spec.lag_secs = 1.0;
    spec.resources = vec![DELETES.to_owned()];
    let t = spawn_fhir_app(&spec);
    wait_for(&t, 60).await;
    // Two more reads: the deletions cursor is past the 60 too.
    let first = fhir.history_reads().first;
    eventually("two more reads", PATIENCE, || {
        fhir.history_reads().first >= first + 2
    })
    .await;
    let before = fhir.history_reads();
    for n in 1..=9 {
        fhir.put(&appointment(&format!("a{n}"), "cancelled"));
    }
    fhir.delete("Appointment", "a10");
    wait_for(&t, 70).await;
    eventually("five more reads", PATIENCE, || {
        fhir.history_reads().first >= before.first + 5
    })
    .await;
    let after = fhir.history_reads();
    let (reads, links) = (after.first - before.first, after.linked - before.linked);
    // Ten changes are two pages of 7: at most one link per read, never the whole history.
    assert!(links <= reads, "{links} links followed in {reads} reads");
    let deleted: Vec<String> = t
        .changes()
        .into_iter()
        .filter(|c| c.event_type == "Appointment.deleted")
        .map(|c| c.focus)
        .collect();
    assert_eq!(deleted, ["Appointment/a10"]);
}

/// Found on sekmet (issue 12): a history read that failed failed the poll, and deletions are
/// read first, so the type's search never ran: 0 notifications for 75 s.
#[actix_rt::test]
async fn a_failing_history_holds_up_neither_the_search_nor_the_deletions_after_it() {
    let fhir = SimFhir::start(VersionIds::Counter).unwrap();
    fhir.put(&appointment("a1", "booked"));
    fhir.put(&appointment("a2", "booked"));
    fhir.set_history_fault(Some(FhirFault::Status(500)));
    let mut spec = FhirSpec::new(&fhir.base_url());
    spec.resources = vec![DELETES.to_owned()];
    let t = spawn_fhir_app(&spec);
    wait_for(&t, 2).await;
    let warned = |t: &FhirApp| {
        t.status()
            .warnings
            .iter()
            .any(|w| w.contains("deletions of Appointment could not be read"))
    };
    eventually("the history problem in status", PATIENCE, || warned(&t)).await;
    fhir.delete("Appointment", "a1");
    fhir.put(&appointment("a3", "booked"));
    wait_for(&t, 3).await;
    let status = t.status();
    assert_eq!(status.polls_failed, 0, "{status:?}");
    assert_eq!(status.last_error, None);
    fhir.set_history_fault(None);
    wait_for(&t, 4).await;
    eventually("the warning to go", PATIENCE, || !warned(&t)).await;
    let events: Vec<(String, String)> = t
        .changes()
        .into_iter()
        .map(|c| (c.event_type, c.focus))
        .collect();
    let deleted = (
        "Appointment.deleted".to_owned(),
        "Appointment/a1".to_owned(),
    );
    assert_eq!(events.len(), 4, "{events:?}");
    assert_eq!(events[3], deleted, "told once history answers: {events:?}");
}
