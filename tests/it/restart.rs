//! The delivery guarantees across process death, proven on the real `courier run` binary: it
//! is killed with SIGKILL or stopped with SIGTERM in the middle of a flow and started again on
//! the same store, while the simulated EHR and receiver run inside the test. Every change must
//! still arrive, with its original id and sequence; duplicates are bounded and come only from
//! a kill.

use std::collections::{hash_map::Entry, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use crate::support::app::{eventually, PATIENCE};
use crate::support::process::{backlog, Rig};

/// The most duplicates one SIGKILL may cause with the harness's windows. A notification is
/// sent again after a kill when the receiver acknowledged it but its removal from the store
/// was not yet on disk: removals are not flushed on their own, only with the next page commit
/// or the store's background flush (every 100 ms). While a backlog drains, a page is committed for
/// every `page_size` (50) containers taken in, so at most that page plus the pipeline behind
/// it, `max_concurrent_enrichments` (32) and the destination's `max_in_flight` (64), can be
/// acknowledged and not yet flushed.
const DUPLICATES_PER_KILL: usize = 50 + 32 + 64;

/// One accepted notification, as far as identity goes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Identity {
    sequence: u64,
    key: String,
    version: String,
}

/// Checks what the receiver accepted against the EHR's changes log: every change delivered,
/// sequences exactly 1..=N, every duplicate with its original's id *and* sequence, every
/// signature verified. Returns the number of duplicates.
fn assert_every_change_delivered(rig: &Rig) -> usize {
    let changes = rig.ehr.change_count();
    let summary = rig.receiver.summary();
    assert!(summary.all_verified, "every signature verifies");
    let accepted = rig.receiver.accepted();
    let mut by_id: HashMap<String, Identity> = HashMap::new();
    let mut by_sequence: HashMap<u64, String> = HashMap::new();
    for request in &accepted {
        let data = &request.json["data"];
        let identity = Identity {
            sequence: data["sequence"].as_u64().expect("a sequence"),
            key: data["key"].as_str().expect("a key").to_owned(),
            version: data["version"].as_str().expect("a version").to_owned(),
        };
        assert_eq!(
            request.json["id"],
            request.id.as_str(),
            "body id is webhook-id"
        );
        let owner = by_sequence
            .entry(identity.sequence)
            .or_insert_with(|| request.id.clone());
        assert_eq!(
            *owner, request.id,
            "sequence {} was given to two notifications",
            identity.sequence
        );
        match by_id.entry(request.id.clone()) {
            Entry::Occupied(original) => assert_eq!(
                original.get(),
                &identity,
                "duplicate {} differs from its original",
                request.id
            ),
            Entry::Vacant(slot) => {
                slot.insert(identity);
            }
        }
    }
    let sequences: BTreeSet<u64> = by_id.values().map(|i| i.sequence).collect();
    assert_eq!(
        sequences,
        (1..=changes).collect(),
        "sequences exactly 1..={changes}"
    );
    let pairs: BTreeSet<(&str, &str)> = by_id
        .values()
        .map(|i| (i.key.as_str(), i.version.as_str()))
        .collect();
    assert_eq!(pairs.len() as u64, changes, "distinct (key, version) pairs");
    // The harness configures `version_pointer = "/seq"`: the versions are the EHR's change
    // numbers, so this says that each entry of the EHR's log was delivered.
    let versions: BTreeSet<u64> = by_id
        .values()
        .map(|i| i.version.parse().expect("a numeric version"))
        .collect();
    assert_eq!(versions, (1..=changes).collect(), "every change of the EHR");
    let duplicates = accepted.len() - by_id.len();
    assert_eq!(duplicates, summary.duplicates);
    duplicates
}

/// Duplicates by the run that sent them; `starts` holds the receiver's request count when
/// each run started, so a request belongs to the last run started before it arrived.
fn duplicates_per_run(rig: &Rig, starts: &[usize]) -> Vec<usize> {
    let mut seen = BTreeSet::new();
    let mut per_run = vec![0; starts.len()];
    for (index, request) in rig.receiver.received().iter().enumerate() {
        if request.accepted() && !seen.insert(request.id.clone()) {
            let run = starts
                .iter()
                .rposition(|start| *start <= index)
                .unwrap_or(0);
            per_run[run] += 1;
        }
    }
    per_run
}

/// After the last graceful stop nothing is left pending and nothing was dead-lettered.
async fn assert_store_drained(rig: &Rig) {
    let store = rig.store();
    assert_eq!(
        store.pending_count(),
        0,
        "delivered containers leave the store"
    );
    assert!(
        store.dead_letters().await.unwrap().is_empty(),
        "no dead letters"
    );
}

fn assert_secret_not_logged(rig: &Rig) {
    assert!(
        !rig.log_text().contains(&rig.secret),
        "a run logged the secret"
    );
}

#[actix_rt::test]
async fn sigkill_mid_flow_and_during_recovery_loses_nothing_and_duplicates_keep_their_ids() {
    let started = Instant::now();
    let mut rig = Rig::new(backlog(400), "");
    // Slow enough that the first kill, at 50 deliveries, leaves most of the backlog to do.
    rig.ehr.set_latency(Duration::from_millis(5));
    let mut starts = Vec::new();
    let mut kills = Vec::new();

    // Mid-flow: the store holds polled containers in every stage.
    starts.push(rig.requests());
    let first = rig.start();
    eventually("50 deliveries before the first kill", PATIENCE, || {
        rig.delivered() >= 50
    })
    .await;
    first.kill();
    kills.push(rig.delivered());

    // During recovery: the restarted process is re-sending what it found in the store.
    starts.push(rig.requests());
    let second = rig.start();
    eventually("the restarted process delivering", PATIENCE, || {
        rig.requests() >= starts[1] + 5
    })
    .await;
    second.kill();
    kills.push(rig.delivered());

    // Mid-flow again, well into the backlog.
    starts.push(rig.requests());
    let third = rig.start();
    let target = (rig.delivered() + 100).min(350);
    eventually("100 more deliveries", PATIENCE, || {
        rig.delivered() >= target
    })
    .await;
    third.kill();
    kills.push(rig.delivered());

    starts.push(rig.requests());
    let last = rig.start();
    eventually("all 400 changes delivered", PATIENCE, || {
        rig.delivered() == 400
    })
    .await;
    last.stop().await;

    let duplicates = assert_every_change_delivered(&rig);
    let per_run = duplicates_per_run(&rig, &starts);
    assert_eq!(
        per_run[0], 0,
        "one process never sends a notification twice"
    );
    for (kill, after) in per_run[1..].iter().enumerate() {
        assert!(
            *after <= DUPLICATES_PER_KILL,
            "{after} duplicates after kill {}; per run: {per_run:?}",
            kill + 1
        );
    }
    assert_store_drained(&rig).await;
    assert_secret_not_logged(&rig);
    println!(
        "sigkill: killed at {kills:?} delivered; duplicates per run {per_run:?} = {duplicates} \
         in {} requests; {:?}",
        rig.requests(),
        started.elapsed()
    );
}

#[actix_rt::test]
async fn sigterm_stops_cleanly_and_the_next_start_delivers_everything() {
    let started = Instant::now();
    let mut rig = Rig::new(backlog(0), "");
    rig.ehr.set_latency(Duration::from_millis(2));
    // A steady flow that goes on while Courier is down: a change every 5 ms.
    let control = rig.ehr.control();
    let flow = actix_rt::spawn(async move {
        let mut every = actix_rt::time::interval(Duration::from_millis(5));
        // A late tick is not made up for: one change per tick, as a steady flow.
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            control.touch_random();
        }
    });

    let first = rig.start();
    eventually("50 deliveries", PATIENCE, || rig.delivered() >= 50).await;
    let stop_took = first.stop().await;
    let stopped_at = rig.delivered();

    let second = rig.start();
    eventually("50 more deliveries after the restart", PATIENCE, || {
        rig.delivered() >= stopped_at + 50
    })
    .await;
    flow.abort();
    let changes = rig.ehr.change_count() as usize;
    eventually("every change delivered", PATIENCE, || {
        rig.delivered() == changes
    })
    .await;
    second.stop().await;

    let duplicates = assert_every_change_delivered(&rig);
    // The stop waited for the requests in flight and flushed the store: nothing the receiver
    // acknowledged is sent again.
    assert_eq!(duplicates, 0, "duplicates after a graceful stop");
    assert_store_drained(&rig).await;
    assert_secret_not_logged(&rig);
    println!(
        "sigterm: stopped in {stop_took:?} at {stopped_at} delivered; {changes} changes, \
         {duplicates} duplicates; {:?}",
        started.elapsed()
    );
}

#[actix_rt::test]
async fn notifications_for_a_destination_that_is_down_survive_sigkill() {
    let started = Instant::now();
    // Quick first retries, then a long wait: at the kill every notification has failed and is
    // waiting in the store, none dead-lettered. A high failure threshold keeps the destination
    // healthy and no ordering lets every notification go, so each is attempted (a failing
    // destination is only probed; a record's later changes wait for its first).
    let mut rig = Rig::new(
        backlog(20),
        "retry_schedule_secs = [0.05, 0.1, 60]\nfailure_threshold = 100\nordering = \"none\"",
    );
    rig.receiver.always(503);

    let first = rig.start();
    eventually(
        "a failed attempt for each of the 20 changes",
        PATIENCE,
        || {
            let failed: BTreeSet<String> = rig
                .receiver
                .received()
                .into_iter()
                .filter(|r| r.answered == 503)
                .map(|r| r.id)
                .collect();
            failed.len() == 20
        },
    )
    .await;
    first.kill();
    assert_eq!(rig.delivered(), 0, "the destination acknowledged nothing");
    let failed = rig.requests();

    rig.receiver.always(200);
    let second = rig.start();
    eventually("the 20 changes delivered", PATIENCE, || {
        rig.delivered() == 20
    })
    .await;
    second.stop().await;

    let duplicates = assert_every_change_delivered(&rig);
    assert_eq!(duplicates, 0, "nothing was acknowledged before the kill");
    assert_store_drained(&rig).await;
    assert_secret_not_logged(&rig);
    println!(
        "destination down: {failed} failed requests before the kill; {:?}",
        started.elapsed()
    );
}
