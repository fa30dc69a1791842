//! Tests of a destination's gate: health transitions, probes and their slot, timing.

use super::*;
use crate::clock::ManualClock;

#[test]
fn the_probe_slot_is_held_until_its_probe_ends_and_a_refusal_does_not_free_it() {
    let board = StatusBoard::default();
    let gate = DestinationGate::new("app", 1, board.clone());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let gate = Arc::new(gate);
    let watched = Arc::downgrade(&gate);
    gate.listen(
        "c",
        Box::new(move || {
            let open = watched.upgrade().map(|gate| gate.open_epoch());
            log.lock().unwrap().push(open.flatten());
        }),
    );
    assert!(gate.take_probe().is_none(), "no probe while healthy");
    gate.failed(1, "HTTP 503");
    assert!(!gate.accepts() && gate.wants_probe());
    let probe = gate.take_probe().expect("the slot is free");
    assert!(!gate.wants_probe());
    assert!(gate.take_probe().is_none());
    assert!(gate.take_probe().is_none(), "a refusal left the slot taken");
    drop(probe.clone());
    assert!(
        gate.take_probe().is_none(),
        "dropping a probe gives nothing back"
    );
    probe.release();
    let probe = gate.take_probe().expect("given back");
    assert_eq!(
        board.snapshot().destinations["app"].state,
        DestinationState::Failing
    );
    gate.succeeded();
    probe.release();
    assert!(gate.accepts());
    gate.gone();
    gate.resume();
    assert_eq!(*seen.lock().unwrap(), [None, Some(2), None, Some(4)]);
}

#[test]
fn a_stale_probe_gives_back_nothing_once_another_holds_the_slot() {
    let gate = Arc::new(DestinationGate::new("app", 1, StatusBoard::default()));
    gate.failed(1, "HTTP 503");
    let old = gate.take_probe().unwrap();
    old.release();
    let new = gate.take_probe().expect("given back");
    old.release();
    assert!(
        gate.take_probe().is_none(),
        "the new probe still holds the slot"
    );
    new.release();
    assert!(gate.take_probe().is_some());
}

#[test]
fn a_change_of_state_is_dated_by_the_apps_clock() {
    let clock = ManualClock::stopped_at("2026-03-01T08:00:00Z".parse().unwrap());
    let board = StatusBoard::default();
    let gate = DestinationGate::with_clock("app", 1, board.clone(), clock.clock());
    let since = || board.snapshot().destinations["app"].state_since;
    assert_eq!(since(), Some(clock.now()), "healthy since the start");
    clock.advance(Duration::from_secs(90));
    gate.failed(1, "HTTP 503");
    assert_eq!(since(), Some("2026-03-01T08:01:30Z".parse().unwrap()));
    assert_eq!(gate.clock().now(), clock.now(), "handed on as it is");
}

#[actix_rt::test]
async fn a_failed_probe_waits_then_frees_the_slot_and_asks_for_the_next() {
    // The runtime's clock is paused: the probe's delay passes without a real wait.
    tokio::time::pause();
    let gate = Arc::new(DestinationGate::new("app", 1, StatusBoard::default()));
    let told = Arc::new(Mutex::new(0));
    let count = Arc::clone(&told);
    gate.listen("c", Box::new(move || *count.lock().unwrap() += 1));
    gate.failed(1, "HTTP 503");
    let probe = gate.take_probe().unwrap();
    let started = tokio::time::Instant::now();
    probe.failed(&[Duration::from_millis(30)], None).await;
    assert!(
        started.elapsed() >= Duration::from_millis(20),
        "waited the delay"
    );
    assert!(gate.wants_probe(), "the slot is free for the next probe");
    assert_eq!(
        *told.lock().unwrap(),
        2,
        "the change, then the call for a probe"
    );
}
