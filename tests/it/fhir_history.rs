//! FHIR deletions read from `_history`: a read costs what changed since its cursor, even
//! when the server's `next` links drop `_since`, and a history that fails holds up neither
//! the type's search nor the deletions once it answers again.

use courier::sim::{SimFhir, VersionIds};
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
