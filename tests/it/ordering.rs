//! Per-key order: notifications that share a key arrive one at a time in sequence order,
//! and a key whose notification keeps failing holds back only itself.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use courier::app::AppOptions;
use courier_sim::{Fault, Received, Route, SimEhrOptions};

use crate::support::app::{eventually, spawn_app_with, ConnectionSpec, TestApp, PATIENCE};
use crate::support::process::Rig;

/// A retry schedule of `n` steps of `secs`, for a destination table.
pub fn schedule(n: usize, secs: f64) -> String {
    let steps = vec![secs.to_string(); n].join(", ");
    format!("retry_schedule_secs = [{steps}]\n")
}

fn sequence(r: &Received) -> u64 {
    r.json["data"]["sequence"].as_u64().expect("a sequence")
}

/// Checks, for the key `key_of` gives each request, that its notifications were attempted one
/// at a time in sequence order: a later one only after the one before it was acknowledged.
/// Returns the acknowledged sequences by key.
pub fn assert_one_at_a_time_per_key(
    received: &[Received],
    key_of: impl Fn(&Received) -> String,
) -> BTreeMap<String, Vec<u64>> {
    let mut lines: BTreeMap<String, (u64, bool, Vec<u64>)> = BTreeMap::new();
    for r in received {
        let (seq, key) = (sequence(r), key_of(r));
        let line = lines.entry(key.clone()).or_insert((seq, false, Vec::new()));
        if line.0 != seq {
            assert!(
                line.1 && seq > line.0,
                "key {key}: sequence {seq} attempted while {} was not acknowledged yet",
                line.0
            );
            (line.0, line.1) = (seq, false);
        }
        if r.accepted() && !line.1 {
            line.1 = true;
            line.2.push(seq);
        }
    }
    lines
        .into_iter()
        .map(|(k, (_, _, seqs))| (k, seqs))
        .collect()
}

fn record_key(r: &Received) -> String {
    r.json["data"]["key"].as_str().unwrap().to_owned()
}

fn accepted_for(t: &TestApp, key: &str) -> usize {
    t.receiver
        .accepted()
        .iter()
        .filter(|r| record_key(r) == key)
        .count()
}

/// The requests about `appt-1`, the record the receiver refuses.
fn refused(t: &TestApp) -> Vec<Received> {
    t.receiver
        .received()
        .into_iter()
        .filter(|r| record_key(r) == "appt-1")
        .collect()
}

#[actix_rt::test]
async fn a_poisoned_key_keeps_failing_while_every_other_key_is_delivered() {
    let ehr = SimEhrOptions {
        appointments: 10,
        ..SimEhrOptions::default()
    };
    let t = spawn_app_with(ehr, AppOptions::default(), &schedule(100, 0.05), |ehr| {
        vec![ConnectionSpec::new("clinic-a", ehr)]
    })
    .await;
    t.receiver.refuse_key("appt-1", 500);
    for _ in 0..3 {
        t.ehr.touch("appt-1");
    }
    let mut others = 0;
    for round in 0..3 {
        for n in 2..=10 {
            t.ehr.touch(&format!("appt-{n}"));
            others += 1;
        }
        eventually("the other keys delivered", PATIENCE, || {
            t.receiver.unique_accepted_ids() == others
        })
        .await;
        eventually("appt-1 retried again", PATIENCE, || {
            refused(&t).len() > round
        })
        .await;
        assert!(
            refused(&t)
                .iter()
                .all(|r| sequence(r) == 1 && !r.accepted()),
            "only appt-1's first notification is attempted, and it fails"
        );
    }
    assert_eq!(t.app.store().dead_letters().await.unwrap(), vec![]);

    t.receiver.refuse_key("appt-1", 200);
    eventually("appt-1's three notifications", PATIENCE, || {
        accepted_for(&t, "appt-1") == 3
    })
    .await;
    let by_key = assert_one_at_a_time_per_key(&t.receiver.received(), record_key);
    assert_eq!(by_key["appt-1"], [1, 2, 3]);
    assert_eq!(by_key.len(), 10);
}

#[actix_rt::test]
async fn each_record_is_delivered_in_sequence_order_under_concurrent_enrichment_and_retries() {
    let ehr = SimEhrOptions {
        patients: 4,
        appointments: 6,
        initial_changes: 120,
        ..SimEhrOptions::default()
    };
    let t = spawn_app_with(ehr, AppOptions::default(), &schedule(50, 0.02), |ehr| {
        vec![ConnectionSpec::new("clinic-a", ehr).with("max_concurrent_enrichments", "16")]
    })
    .await;
    // The first enrichments are slow, so later changes are ready first; and one attempt in
    // four fails, so retries reshuffle what is ready.
    t.ehr
        .inject(Route::Details, Fault::Hang(Duration::from_millis(300)), 3);
    t.receiver.fail_randomly(0.25);
    eventually("120 notifications", PATIENCE, || {
        t.receiver.unique_accepted_ids() == 120
    })
    .await;
    let by_key = assert_one_at_a_time_per_key(&t.receiver.received(), record_key);
    assert_eq!(by_key.values().map(Vec::len).sum::<usize>(), 120);
    for (key, sequences) in by_key {
        assert!(
            sequences.windows(2).all(|w| w[0] < w[1]),
            "{key}: {sequences:?}"
        );
    }
}

#[actix_rt::test]
async fn an_ordering_key_pointer_orders_every_record_of_one_patient() {
    let ehr = SimEhrOptions {
        patients: 3,
        appointments: 12,
        initial_changes: 90,
        ..SimEhrOptions::default()
    };
    let extra = format!("ordering_key = \"/patientId\"\n{}", schedule(50, 0.02));
    let t = spawn_app_with(ehr, AppOptions::default(), &extra, |ehr| {
        vec![ConnectionSpec::new("clinic-a", ehr)]
    })
    .await;
    t.receiver.fail_randomly(0.25);
    eventually("90 notifications", PATIENCE, || {
        t.receiver.unique_accepted_ids() == 90
    })
    .await;
    let patient = |r: &Received| {
        r.json["data"]["change"]["patientId"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let by_patient = assert_one_at_a_time_per_key(&t.receiver.received(), patient);
    assert!(by_patient.len() > 1, "several patients: {by_patient:?}");
    assert_eq!(by_patient.values().map(Vec::len).sum::<usize>(), 90);
}

#[actix_rt::test]
async fn per_key_order_holds_across_a_sigkill_and_the_recovery_after_it() {
    let ehr = SimEhrOptions {
        patients: 5,
        appointments: 8,
        initial_changes: 200,
        ..SimEhrOptions::default()
    };
    let mut rig = Rig::new(ehr, &schedule(50, 0.02));
    rig.ehr.set_latency(Duration::from_millis(2));
    rig.receiver.fail_randomly(0.2);
    let first = rig.start();
    eventually("60 delivered", PATIENCE, || rig.delivered() >= 60).await;
    first.kill();
    let restarted = Instant::now();
    let second = rig.start();
    eventually("200 delivered", PATIENCE, || rig.delivered() == 200).await;
    second.stop().await;
    // Each run sends every record's changes one at a time in order; the second run resends
    // only what the first did not see acknowledged (or acknowledged just before the kill).
    let (before, after): (Vec<Received>, Vec<Received>) = rig
        .receiver
        .received()
        .into_iter()
        .partition(|r| r.at < restarted);
    assert_one_at_a_time_per_key(&before, record_key);
    let resent = assert_one_at_a_time_per_key(&after, record_key);
    assert!(!resent.is_empty(), "the second run delivered the rest");
}

#[actix_rt::test]
async fn per_key_order_holds_while_the_destination_flaps_between_failing_and_healthy() {
    let ehr = SimEhrOptions {
        patients: 4,
        appointments: 5,
        initial_changes: 100,
        ..SimEhrOptions::default()
    };
    // Half the attempts fail and two failures in a row make the destination failing: it
    // turns failing and healthy again many times, letting notifications go each time.
    let extra = format!("failure_threshold = 2\n{}", schedule(50, 0.01));
    let t = spawn_app_with(ehr, AppOptions::default(), &extra, |ehr| {
        vec![ConnectionSpec::new("clinic-a", ehr)]
    })
    .await;
    t.receiver.fail_randomly(0.5);
    eventually("100 notifications", PATIENCE, || {
        t.receiver.unique_accepted_ids() == 100
    })
    .await;
    let by_key = assert_one_at_a_time_per_key(&t.receiver.received(), record_key);
    assert_eq!(by_key.values().map(Vec::len).sum::<usize>(), 100);
    assert!(t.app.store().dead_letters().await.unwrap().is_empty());
}
