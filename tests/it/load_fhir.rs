//! Courier's FHIR source against the benchmark's load EHR (`courier_sim::load`'s `/fhir`
//! flavour): the steady-rate changes arrive once each, in order, with their Patient and the
//! `created_us` extension the counting receiver measures latency from.

use courier_sim::load::fhir::CREATED_US_URL;
use courier_sim::{LoadEhr, LoadEhrOptions, LoadFeed};

use crate::support::app::{eventually, PATIENCE};
use crate::support::fhir::{spawn_fhir_app, FhirSpec};

#[actix_rt::test]
async fn a_steady_rate_of_fhir_changes_arrives_once_each_with_its_patient_and_creation_time() {
    let ehr = LoadEhr::start(LoadEhrOptions {
        feed: LoadFeed::Rate { per_sec: 400.0 },
        patients: 7,
        ..LoadEhrOptions::default()
    })
    .unwrap();
    let mut spec = FhirSpec::new(&ehr.fhir_base_url());
    spec.initial_since = "2019-12-31T00:00:00Z".into();
    spec.resources =
        vec!["type = \"Appointment\"\nenrich = [\"participant.actor:Patient\"]".into()];
    let t = spawn_fhir_app(&spec);
    let number = |focus: &str| -> u64 {
        focus
            .strip_prefix("Appointment/a-")
            .unwrap()
            .parse()
            .unwrap()
    };
    // Deliveries run concurrently, so wait for the first 200 changes whatever their order.
    eventually("changes 1 to 200", PATIENCE, || {
        let seen: std::collections::BTreeSet<u64> =
            t.changes().iter().map(|c| number(&c.focus)).collect();
        (1..=200).all(|n| seen.contains(&n))
    })
    .await;
    let changes = t.changes();
    let mut focuses: Vec<u64> = Vec::new();
    for change in &changes {
        let n = number(&change.focus);
        focuses.push(n);
        assert_eq!(change.event_type, "Appointment.new");
        let resources = &change.body["data"]["resources"];
        assert_eq!(resources["Patient"]["id"], format!("p-{}", n % 7 + 1));
        let extension = &resources["Appointment"]["extension"][0];
        assert_eq!(extension["url"], CREATED_US_URL);
        assert!(extension["valueDecimal"].as_u64().unwrap() > 1_700_000_000_000_000);
    }
    let count = focuses.len();
    focuses.sort_unstable();
    focuses.dedup();
    assert_eq!(focuses.len(), count, "each change once");
    t.app
        .shutdown(std::time::Duration::from_secs(2))
        .await
        .unwrap();
    ehr.stop().await;
}
