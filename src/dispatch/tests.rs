//! Unit tests of the dispatch machine: plain values in, actions out; no runtime, no store,
//! no sleeps (time is a value passed in).

use super::*;
use chrono::TimeZone;
use serde_json::json;

/// Container `sequence` of record `key`, about `patient`.
pub(crate) fn container(sequence: u64, key: &str, patient: &str) -> Container {
    Container {
        connection: "c".into(),
        sequence,
        key: key.into(),
        version: sequence.to_string(),
        notification_id: format!("msg_{sequence}"),
        event_type: "t".into(),
        detected_at: Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
        change: json!({"id": key, "patientId": patient}),
        fhir: None,
        changed_elements: None,
        backfill: false,
    }
}

pub(crate) fn per_key() -> DeliveryOrder {
    DeliveryOrder::PerKey { key_pointer: None }
}

/// The destination accepts, in epoch 1, with a store never re-opened.
pub(crate) const OPEN: Seen = Seen {
    open_epoch: Some(1),
    reopens: 0,
};

/// Offered to probe with the slot of token 7.
pub(crate) const PROBE: Found = Found::Probe(7);

/// The destination does not accept notifications.
pub(crate) const CLOSED: Seen = Seen {
    open_epoch: None,
    reopens: 0,
};

/// A running connection whose destination orders by `order`, polling after its start's
/// walk found an empty store (so it is caught up at [`OPEN`]).
pub(crate) fn running(order: DeliveryOrder) -> Dispatch {
    let mut dispatch = Dispatch::new(order);
    assert_eq!(dispatch.on(Event::Started), [Action::Run(Step::Walk)]);
    walk(&mut dispatch, OPEN, &[]);
    assert_eq!(due(&mut dispatch, OPEN), Step::Poll);
    dispatch
}

/// A whole walk of the store at `seen` that reads `containers`; answers the tickets it
/// claimed.
pub(crate) fn walk(dispatch: &mut Dispatch, seen: Seen, containers: &[Container]) -> Vec<Ticket> {
    assert!(dispatch.on(Event::WalkBegins(seen)).is_empty());
    let tickets = containers
        .iter()
        .filter_map(|c| go(&dispatch.on(Event::Offered(c, Found::Walk, seen))))
        .collect();
    ended(dispatch, seen);
    tickets
}

/// The ticket of an `Enrich` answer, if that is what `actions` are.
pub(crate) fn go(actions: &[Action]) -> Option<Ticket> {
    match actions {
        [Action::Enrich { ticket, .. }] => Some(*ticket),
        _ => None,
    }
}

pub(crate) fn offer(dispatch: &mut Dispatch, container: &Container, found: Found) -> Vec<Action> {
    dispatch.on(Event::Offered(container, found, OPEN))
}

/// Offers `container` from a page committed just now and answers its claim.
pub(crate) fn page(dispatch: &mut Dispatch, container: &Container) -> Ticket {
    go(&offer(dispatch, container, Found::Page)).expect("claimed")
}

/// The step the machine runs for a poll that is due at `seen`.
pub(crate) fn due(dispatch: &mut Dispatch, seen: Seen) -> Step {
    match dispatch.on(Event::StepDue(Step::Poll, seen))[..] {
        [Action::Run(step)] => step,
        ref other => panic!("expected a step, got {other:?}"),
    }
}

/// The step under way ends at `seen`, having handed over what it was offered.
pub(crate) fn ended(dispatch: &mut Dispatch, seen: Seen) {
    dispatch.on(Event::StepEnded { seen, whole: true });
}

/// Containers `head` and `head + 1` of `key` from a page: answers the claim of the head,
/// the other waits behind it.
fn line(dispatch: &mut Dispatch, head: u64, key: &str) -> Ticket {
    let first = page(dispatch, &container(head, key, "p"));
    let behind = offer(dispatch, &container(head + 1, key, "p"), Found::Page);
    assert_eq!(behind, [Action::Queued]);
    first
}

fn finish(ticket: Ticket) -> Event<'static> {
    Event::Finished { ticket, open: true }
}

pub(crate) fn let_go(ticket: Ticket) -> Event<'static> {
    Event::LetGo { ticket, open: true }
}

#[test]
fn a_claimed_container_is_not_dispatched_again_until_released() {
    let mut dispatch = running(DeliveryOrder::None);
    let seven = container(7, "a", "p");
    let ticket = page(&mut dispatch, &seven);
    assert_eq!(
        go(&offer(&mut dispatch, &seven, Found::Page)),
        None,
        "taken"
    );
    assert_eq!(offer(&mut dispatch, &seven, PROBE), [], "nor as a probe");
    dispatch.on(let_go(ticket));
    assert!(go(&offer(&mut dispatch, &seven, PROBE)).is_some());
}

#[test]
fn without_order_containers_of_one_key_go_together() {
    let mut dispatch = running(DeliveryOrder::None);
    page(&mut dispatch, &container(1, "a", "p"));
    page(&mut dispatch, &container(2, "a", "p"));
}

#[test]
fn a_key_goes_one_at_a_time_in_sequence_order_and_a_delivery_promotes_the_next() {
    let mut dispatch = running(per_key());
    let first = page(&mut dispatch, &container(1, "a", "p"));
    for sequence in [2, 3] {
        let waits = offer(&mut dispatch, &container(sequence, "a", "p"), Found::Page);
        assert_eq!(waits, [Action::Queued]);
    }
    page(&mut dispatch, &container(4, "b", "p"));
    let at = Utc.timestamp_opt(1_700_000_100, 0).unwrap();
    let promoted = dispatch.on(Event::Delivered {
        ticket: first,
        at,
        open: true,
    });
    let [Action::Promote(second)] = promoted[..] else {
        panic!("expected the next of the key, got {promoted:?}");
    };
    assert_eq!(second.sequence, 2);
    assert_eq!(dispatch.last_delivered(), Some(at), "the delivery's time");
    let [Action::Promote(third)] = dispatch.on(finish(second))[..] else {
        panic!("3 follows 2");
    };
    assert_eq!(third.sequence, 3);
    assert_eq!(dispatch.on(finish(third)), [], "the line is done");
    assert_eq!(dispatch.claims().len(), 1, "only 4 is still claimed");
}

#[test]
fn a_dead_lettered_head_promotes_the_next_of_its_key() {
    let mut dispatch = running(per_key());
    let first = line(&mut dispatch, 1, "a");
    let dead_lettered = dispatch.on(finish(first));
    assert!(matches!(dead_lettered[..], [Action::Promote(t)] if t.sequence == 2));
}

#[test]
fn the_ordering_key_pointer_groups_records_of_one_patient() {
    let mut dispatch = running(DeliveryOrder::PerKey {
        key_pointer: Some("/patientId".into()),
    });
    page(&mut dispatch, &container(1, "appt-1", "pat-1"));
    let same_patient = offer(&mut dispatch, &container(2, "appt-2", "pat-1"), Found::Page);
    assert_eq!(same_patient, [Action::Queued]);
    page(&mut dispatch, &container(3, "appt-3", "pat-2"));
}

#[test]
fn a_container_let_go_dissolves_its_line_and_asks_for_a_walk() {
    let mut dispatch = running(per_key());
    let first = line(&mut dispatch, 1, "a");
    let [Action::Promote(second)] = dispatch.on(finish(first))[..] else {
        panic!("2 is next");
    };
    offer(&mut dispatch, &container(3, "a", "p"), Found::Page);
    assert_eq!(dispatch.on(let_go(second)), [Action::Walk]);
    assert_eq!(dispatch.claims().let_go_count(), 1);
    assert!(dispatch.walk_due());
    assert!(
        dispatch.claims().is_empty(),
        "3 waits in the store, not in memory"
    );
    // The walk dispatches 2 again, and 3 must not overtake it.
    assert_eq!(due(&mut dispatch, OPEN), Step::Walk);
    let claimed = walk(
        &mut dispatch,
        OPEN,
        &[container(2, "a", "p"), container(3, "a", "p")],
    );
    assert_eq!(claimed.iter().map(|t| t.sequence).collect::<Vec<_>>(), [2]);
}

#[test]
fn a_release_of_a_claim_that_no_longer_holds_changes_nothing() {
    let mut dispatch = running(DeliveryOrder::None);
    let ticket = page(&mut dispatch, &container(1, "a", "p"));
    assert_eq!(dispatch.on(let_go(ticket)), [Action::Walk]);
    let again = go(&offer(&mut dispatch, &container(1, "a", "p"), PROBE)).unwrap();
    assert_eq!(dispatch.on(let_go(ticket)), [], "the first claim is over");
    assert_eq!(dispatch.on(finish(ticket)), []);
    assert!(dispatch.is_current(again));
    assert_eq!(dispatch.claims().let_go_count(), 1);
}

#[test]
fn a_restart_voids_enrichment_claims_and_waiting_containers_but_not_deliveries() {
    let mut dispatch = running(per_key());
    let enriching = page(&mut dispatch, &container(1, "a", "p"));
    let delivering = page(&mut dispatch, &container(2, "b", "p"));
    assert_eq!(
        dispatch.on(Event::Enriched(delivering)),
        [Action::Deliver(delivering)]
    );
    offer(&mut dispatch, &container(3, "b", "p"), Found::Page);
    dispatch.on(Event::Stopped);
    assert_eq!(dispatch.on(Event::Started), [Action::Run(Step::Walk)]);
    assert!(!dispatch.is_current(enriching));
    let voided = dispatch.on(Event::Enriched(enriching));
    assert_eq!(voided, [], "must not go out");
    let stored = [1, 2, 3].map(|seq| container(seq, if seq == 1 { "a" } else { "b" }, "p"));
    assert!(dispatch.on(Event::WalkBegins(OPEN)).is_empty());
    let taken_over = go(&offer(&mut dispatch, &stored[0], Found::Walk)).expect("1 again");
    let delivering_still = offer(&mut dispatch, &stored[1], Found::Walk);
    assert_eq!(delivering_still, [], "2 still delivers");
    let behind = offer(&mut dispatch, &stored[2], Found::Walk);
    assert_eq!(
        behind,
        [Action::Queued],
        "waits again behind the delivery that survived the restart"
    );
    // The old claim's late release must not release the new owner's claim.
    dispatch.on(let_go(enriching));
    assert!(dispatch.is_current(taken_over));
    assert_eq!(dispatch.claims().len(), 3);
}

#[test]
fn nothing_is_promoted_while_the_destination_does_not_accept_or_the_connection_stopped() {
    let mut dispatch = running(per_key());
    let first = line(&mut dispatch, 1, "a");
    let closed = Event::Finished {
        ticket: first,
        open: false,
    };
    assert_eq!(dispatch.on(closed), []);
    assert!(dispatch.claims().is_free(2), "left for the next walk");

    let first = line(&mut dispatch, 3, "b");
    dispatch.on(Event::Stopped);
    assert_eq!(dispatch.on(finish(first)), []);
    let four = container(4, "b", "p");
    assert!(go(&offer(&mut dispatch, &four, PROBE)).is_some());
}

#[test]
fn a_probe_travels_with_its_claim_and_is_given_back_when_the_claim_ends_or_is_voided() {
    let mut dispatch = running(per_key());
    dispatch.on(Event::DestinationChanged(CLOSED));
    let first = container(1, "a", "p");
    let claimed = dispatch.on(Event::Offered(&first, Found::Probe(1), CLOSED));
    let ticket = go(&claimed).expect("probes");
    let closed = Event::LetGo {
        ticket,
        open: false,
    };
    assert_eq!(dispatch.on(closed), [Action::ReleaseProbe(1)]);

    let ticket = go(&dispatch.on(Event::Offered(&first, Found::Probe(2), CLOSED))).unwrap();
    assert_eq!(
        dispatch.on(Event::Enriched(ticket)),
        [Action::Deliver(ticket)]
    );
    let at = Utc.timestamp_opt(1_700_000_100, 0).unwrap();
    let delivered = Event::Delivered {
        ticket,
        at,
        open: true,
    };
    assert_eq!(dispatch.on(delivered), [Action::ReleaseProbe(2)]);

    // A restart voids a probe's claim still being enriched, and gives its slot back.
    let second = container(2, "b", "p");
    go(&dispatch.on(Event::Offered(&second, Found::Probe(3), CLOSED))).unwrap();
    let restarted = dispatch.on(Event::Started);
    assert_eq!(
        restarted,
        [Action::ReleaseProbe(3), Action::Run(Step::Walk)]
    );
    go(&dispatch.on(Event::Offered(&second, Found::Probe(4), CLOSED))).unwrap();
    assert_eq!(dispatch.on(Event::Retired), [Action::ReleaseProbe(4)]);
}
