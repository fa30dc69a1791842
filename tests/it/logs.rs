//! What Courier logs: identifiers, counts and timings, never patient data, even at debug
//! level and through every failure path.

use courier_sim::{Fault, Route, SimEhrOptions};

use crate::support::admin::post;
use crate::support::app::{eventually, PATIENCE};
use crate::support::process::Rig;

const PATIENTS: usize = 8;
/// Written into every patient's names and MRN by the simulated EHR.
const MARKER: &str = "ZqPhiMarker7";

/// The names and birth dates of every simulated patient, read over the EHR's API.
async fn patient_details(base_url: &str) -> Vec<String> {
    let client = awc::Client::default();
    let mut details = Vec::new();
    for n in 1..=PATIENTS {
        let mut response = client
            .get(format!("{base_url}/patients/pat-{n}"))
            .send()
            .await
            .unwrap();
        let patient: serde_json::Value = response.json().await.unwrap();
        details.push(patient["name"][0]["family"].as_str().unwrap().to_owned());
        details.push(patient["name"][0]["given"][0].as_str().unwrap().to_owned());
        details.push(patient["birthDate"].as_str().unwrap().to_owned());
    }
    details
}

#[actix_rt::test]
async fn logs_name_ids_but_never_patient_details_even_at_debug_level() {
    let ehr_options = SimEhrOptions {
        patients: PATIENTS,
        appointments: 20,
        initial_changes: 30,
        ..SimEhrOptions::default()
    };
    let mut rig = Rig::new(ehr_options, "retry_schedule_secs = [0.05, 0.05]");
    rig.log_filter = "courier=debug,warn";
    rig.ehr.mark_phi(MARKER);
    // Every failure path that logs: malformed feeds, failing detail requests, a receiver that
    // fails (and one notification that ends in the dead letters).
    for fault in [
        Fault::Garbage,
        Fault::WrongShape,
        Fault::MissingKey,
        Fault::Status(500),
    ] {
        rig.ehr.inject(Route::Feed, fault, 1);
    }
    rig.ehr.inject(Route::Details, Fault::Status(503), 2);
    rig.ehr.inject(Route::Details, Fault::Garbage, 1);
    rig.receiver.respond_with(vec![500, 503]);
    let courier = rig.start();
    eventually("every change delivered", PATIENCE, || rig.delivered() == 30).await;
    // One more change, rejected (422) until its schedule runs out: a dead letter.
    rig.receiver.always(422);
    rig.ehr.touch("appt-1");
    eventually("three refused attempts", PATIENCE, || {
        rig.receiver.summary().failures >= 2 + 3
    })
    .await;
    eventually("the dead letter logged", PATIENCE, || {
        rig.log_text().contains("dead-lettered")
    })
    .await;
    courier.stop().await;

    let logs = rig.log_text();
    assert!(
        logs.contains("conn=clinic-a"),
        "the logs name the connection:\n{logs}"
    );
    assert!(
        logs.contains("dead-lettered"),
        "the dead letter is logged:\n{logs}"
    );
    let delivered = rig.receiver.accepted();
    assert!(
        delivered
            .iter()
            .any(|r| String::from_utf8_lossy(&r.body).contains(&format!("MRN-{MARKER}"))),
        "the marked identifiers reached the receiver, so they went through Courier"
    );
    let marked: Vec<&str> = logs.lines().filter(|line| line.contains(MARKER)).collect();
    assert!(
        marked.is_empty(),
        "log lines with patient data: {marked:#?}"
    );
    for detail in patient_details(&rig.ehr.base_url()).await {
        assert!(
            !logs.contains(&detail),
            "the logs contain patient data {detail:?}:\n{logs}"
        );
    }
    assert!(!logs.contains(&rig.secret), "the logs contain the secret");
}

/// A line an attacker would like an operator to read, sent inside ids of admin requests.
const FORGED: &str = "ERROR conn=clinic-a the admin token is hunter2";

#[actix_rt::test]
async fn ids_from_admin_requests_cannot_forge_or_hide_log_lines() {
    let mut rig = Rig::new(SimEhrOptions::default(), "");
    rig.log_filter = "courier=info,warn";
    let courier = rig.start();
    let admin = rig.admin_url().await;
    let id = "x%0D%0AERROR%20conn=clinic-a%20the%20admin%20token%20is%20hunter2%1B%5B2K";
    let retried = post(&admin, &format!("/dead-letters/{id}/retry")).await;
    assert_eq!(retried.status, 404, "{}", retried.text);
    let bulk = post(&admin, &format!("/dead-letters/retry?connection={id}")).await;
    assert_eq!(bulk.status, 200, "{}", bulk.text);
    eventually("both retries logged", PATIENCE, || {
        rig.log_text().matches("dlq retry by an operator").count() == 2
    })
    .await;
    courier.stop().await;
    let logs = rig.log_text();
    let forged: Vec<&str> = logs.lines().filter(|l| l.starts_with(FORGED)).collect();
    assert!(forged.is_empty(), "forged log lines: {forged:#?}");
    assert!(!logs.contains('\x1b'), "a terminal escape reached the log");
    let escaped = format!("x\\r\\n{FORGED}\\u{{1b}}[2K");
    assert_eq!(logs.matches(&escaped).count(), 2, "{logs}");
}
