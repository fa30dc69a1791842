//! Unit tests of the journal: bounds, outcome transitions and rates, with time as a value
//! read from a clock a test moves.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::*;
use crate::clock::ManualClock;
use crate::dispatch::tests::container;

fn start() -> DateTime<Utc> {
    "2026-01-01T00:00:00Z".parse().unwrap()
}

fn notification_of(c: &Container, body: &str) -> Notification {
    Notification {
        id: c.notification_id.clone(),
        connection: c.connection.clone(),
        sequence: c.sequence,
        key: c.key.clone(),
        body: body.as_bytes().to_vec().into(),
    }
}

fn attempted(at: DateTime<Utc>, status: u16, error: Option<&str>) -> Attempted<'_> {
    Attempted {
        at,
        status: Some(status),
        latency: Duration::from_millis(12),
        error,
    }
}

fn poll(at: DateTime<Utc>, changes: u32) -> PollEntry {
    PollEntry {
        at,
        outcome: PollOutcome::Ok,
        changes,
        duration_ms: 3,
        error: None,
    }
}

#[test]
fn a_page_longer_than_the_ring_leaves_its_newest_notifications_in_order() {
    let journal = Journal::default();
    journal.created("d", std::slice::from_ref(&container(1, "k", "p")));
    let page: Vec<Container> = (2..=120).map(|s| container(s, "k", "p")).collect();
    journal.created("d", &page);
    let view = journal.connection("c", start());
    let sequences: Vec<u64> = view.notifications.iter().map(|n| n.sequence).collect();
    let newest: Vec<u64> = (71..=120).rev().collect();
    assert_eq!(
        sequences, newest,
        "the page's last {NOTIFICATIONS_KEPT}, newest first"
    );
}

#[test]
fn every_ring_keeps_only_its_newest_entries() {
    let journal = Journal::default();
    let at = start();
    for n in 0..(POLLS_KEPT as u32 + 5) {
        journal.poll("c", poll(at, n));
    }
    for sequence in 1..=(NOTIFICATIONS_KEPT as u64 + 7) {
        let c = container(sequence, "k", "p");
        journal.created("d", std::slice::from_ref(&c));
        journal.attempt("d", &notification_of(&c, "{}"), attempted(at, 200, None));
        journal.attempt("d", &notification_of(&c, "{}"), attempted(at, 200, None));
    }
    let view = journal.connection("c", at);
    assert_eq!(view.polls.len(), POLLS_KEPT);
    assert_eq!(view.polls[0].changes, POLLS_KEPT as u32 + 4, "newest first");
    assert_eq!(view.notifications.len(), NOTIFICATIONS_KEPT);
    assert_eq!(
        view.notifications[0].sequence,
        NOTIFICATIONS_KEPT as u64 + 7
    );
    assert_eq!(view.notifications.last().unwrap().sequence, 8);
    let attempts = journal.destination("d", at).attempts;
    assert_eq!(attempts.len(), ATTEMPTS_KEPT);
    assert_eq!(attempts[0].sequence, NOTIFICATIONS_KEPT as u64 + 7);
}

#[test]
fn a_notification_goes_from_pending_through_retrying_to_delivered_or_the_dead_letters() {
    let journal = Journal::default();
    let at = start();
    let (one, two) = (container(1, "appt-1", "p"), container(2, "appt-2", "p"));
    journal.created("d", std::slice::from_ref(&one));
    journal.created("d", std::slice::from_ref(&two));
    let outcome_of = |sequence: u64| {
        let view = journal.connection("c", at);
        let entry = view.notifications.iter().find(|n| n.sequence == sequence);
        let entry = entry.unwrap().clone();
        (entry.outcome, entry.attempts, entry.last_status)
    };
    assert_eq!(outcome_of(1), (Outcome::Pending, 0, None));

    let (n1, n2) = (notification_of(&one, "{}"), notification_of(&two, "{}"));
    journal.attempt("d", &n1, attempted(at, 503, Some("HTTP 503")));
    assert_eq!(outcome_of(1), (Outcome::Retrying, 1, Some(503)));
    journal.pending_again("d", &n1, at);
    assert_eq!(outcome_of(1), (Outcome::Pending, 1, Some(503)), "let go");
    journal.attempt("d", &n1, attempted(at, 200, None));
    assert_eq!(outcome_of(1), (Outcome::Delivered, 2, Some(200)));

    journal.attempt("d", &n2, attempted(at, 400, Some("HTTP 400")));
    journal.dead_lettered("d", &n2, at);
    assert_eq!(outcome_of(2), (Outcome::DeadLetter, 1, Some(400)));
    journal.retried("c", 2, at);
    assert_eq!(outcome_of(2), (Outcome::Pending, 1, Some(400)), "retried");
    journal.retried("c", 99, at);
    assert_eq!(
        journal.connection("c", at).notifications.len(),
        2,
        "nothing added"
    );
    journal.attempt("d", &n2, attempted(at, 200, None));
    assert_eq!(outcome_of(2), (Outcome::Delivered, 2, Some(200)));

    let attempts = journal.destination("d", at).attempts;
    let shown: Vec<_> = attempts.iter().map(|a| (a.sequence, a.outcome)).collect();
    use AttemptOutcome::{Delivered, Failed};
    assert_eq!(
        shown,
        [(2, Delivered), (2, Failed), (1, Delivered), (1, Failed)]
    );
    assert_eq!(attempts[3].error.as_deref(), Some("HTTP 503"));
    assert_eq!(
        (attempts[3].status, attempts[2].error.as_deref()),
        (Some(503), None)
    );
    assert_eq!(attempts[0].latency_ms, 12);
}

#[test]
fn a_notification_first_seen_at_an_attempt_takes_its_event_type_from_its_body() {
    let journal = Journal::default();
    let at = start();
    let replayed = notification_of(
        &container(9, "appt-9", "p"),
        r#"{"id":"x","type":"appointment.cancelled","data":{}}"#,
    );
    journal.attempt("d", &replayed, attempted(at, 200, None));
    let view = journal.connection("c", at);
    let entry = &view.notifications[0];
    assert_eq!(
        entry.event_type.as_ref().map(Shared::as_str),
        Some("appointment.cancelled")
    );
    assert_eq!((entry.outcome, entry.attempts), (Outcome::Delivered, 1));
    assert_eq!(entry.destination.as_str(), "d");
}

#[test]
fn deliveries_per_minute_count_the_last_minute_only() {
    let manual = ManualClock::stopped_at(start());
    let clock = manual.clock();
    let journal = Journal::default();
    let c = container(1, "k", "p");
    let n = notification_of(&c, "{}");
    for _ in 0..30 {
        journal.attempt("d", &n, attempted(clock.now(), 200, None));
        manual.advance(Duration::from_secs(1));
    }
    journal.attempt("d", &n, attempted(clock.now(), 500, Some("HTTP 500")));
    // 30 deliveries over the last 30 s; the failure is not a delivery.
    assert_eq!(journal.connection("c", clock.now()).delivered_per_min, 30);
    assert_eq!(journal.destination("d", clock.now()).delivered_per_min, 30);
    manual.advance(Duration::from_secs(40));
    let per_min = journal.destination("d", clock.now()).delivered_per_min;
    assert!(
        (15..=20).contains(&per_min),
        "the first 10-15 s aged out: {per_min}"
    );
    manual.advance(Duration::from_secs(60));
    let (connections, destinations) = journal.rates(clock.now());
    assert!(connections.is_empty(), "only connections that delivered");
    assert_eq!(destinations["d"], 0);
}

#[test]
fn a_rate_bucket_reused_after_the_window_starts_over() {
    let mut rate = Rate::default();
    let at = start();
    rate.add(at);
    rate.add(at);
    // Twelve buckets later the same slot is reused for a new 5 s.
    let later = at + chrono::Duration::seconds(60);
    rate.add(later);
    assert_eq!(rate.per_min(later), 1);
    assert_eq!(
        rate.per_min(at),
        0,
        "a bucket from the future is not counted"
    );
}

#[test]
fn lookups_find_by_id_key_and_sequence_and_forgetting_a_connection_drops_it() {
    let journal = Journal::default();
    for (sequence, key) in [(1, "appt-1"), (2, "appt-2"), (3, "appt-1")] {
        journal.created("d", &[container(sequence, key, "p")]);
    }
    let sequences = |found: Vec<Found>| found.iter().map(|f| f.entry.sequence).collect::<Vec<_>>();
    assert_eq!(sequences(journal.find(Lookup::Id("msg_2"))), [2]);
    assert_eq!(sequences(journal.find(Lookup::Key("appt-1", None))), [3, 1]);
    assert_eq!(
        sequences(journal.find(Lookup::Key("appt-1", Some("other")))),
        [0u64; 0]
    );
    assert_eq!(sequences(journal.find(Lookup::Sequence("c", 3))), [3]);
    assert_eq!(journal.find(Lookup::Id("msg_2"))[0].connection, "c");
    journal.forget_connection("c");
    assert!(journal.find(Lookup::Id("msg_2")).is_empty());
    assert_eq!(journal.connection("c", start()), ConnectionView::default());
}

#[test]
fn a_connection_that_only_polls_allocates_no_notification_ring() {
    let journal = Journal::default();
    journal.poll("c", poll(start(), 0));
    let connections = lock(&journal.connections);
    let log = &connections["c"];
    assert!((POLLS_KEPT..POLLS_KEPT * 2).contains(&log.polls.capacity()));
    assert_eq!(log.notifications.capacity(), 0);
}

/// What the journal of 10,000 connections costs once each polled 20 times, and once each
/// also has 50 notifications. Resident memory is the whole process's, so this runs alone:
/// `cargo test --lib journal_of_ten_thousand -- --ignored --nocapture`.
#[test]
#[ignore = "measures the process's resident memory: run alone"]
fn journal_of_ten_thousand_connections_stays_within_its_memory_budget() {
    fn resident_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }
    let journal = Journal::default();
    let before = resident_kib();
    for n in 0..10_000 {
        let id = format!("connection-{n:05}");
        for _ in 0..POLLS_KEPT {
            journal.poll(&id, poll(start(), 0));
        }
    }
    let polled = resident_kib();
    for n in 0..10_000 {
        for sequence in 1..=NOTIFICATIONS_KEPT as u64 {
            let mut c = container(sequence, "appt-12345", "p");
            c.connection = format!("connection-{n:05}");
            c.notification_id = format!("msg_{:032x}", n as u64 * 1000 + sequence);
            journal.created("destination", std::slice::from_ref(&c));
        }
    }
    let delivered = resident_kib();
    let (polls, notifications) = (polled - before, delivered - polled);
    println!(
        "10,000 connections: {polls} KiB with 20 polls each, {notifications} KiB more with 50 notifications each"
    );
    // About 1.3 KiB a connection that polls (RSS varies by a few MiB between runs), about
    // 9 KiB one with a full notification ring.
    assert!(polls < 24 * 1024, "{polls} KiB");
    assert!(notifications < 128 * 1024, "{notifications} KiB");
}
