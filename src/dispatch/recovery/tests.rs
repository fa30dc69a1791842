//! Unit tests of recovery: when a connection walks its store, and when a page may be
//! dispatched from memory. Plain values in, actions out; no runtime, no sleeps.

use crate::config::DeliveryOrder;
use crate::dispatch::tests::{
    container, due, ended, go, let_go, offer, page, per_key, running, walk, CLOSED, OPEN, PROBE,
};
use crate::dispatch::{Action, Dispatch, Event, Found, Seen, Step};

#[test]
fn a_start_walks_the_store_before_any_page_is_dispatched() {
    let mut dispatch = Dispatch::new(per_key());
    assert_eq!(dispatch.on(Event::Started), [Action::Run(Step::Walk)]);
    assert_eq!(due(&mut dispatch, OPEN), Step::Walk, "not caught up yet");
    let stored = [container(1, "a", "p"), container(2, "a", "p")];
    let claimed = walk(&mut dispatch, OPEN, &stored);
    assert_eq!(claimed.len(), 1, "2 waits behind 1");
    assert_eq!(due(&mut dispatch, OPEN), Step::Poll, "caught up");
    page(&mut dispatch, &container(3, "b", "p"));
    ended(&mut dispatch, OPEN);
    assert_eq!(
        due(&mut dispatch, OPEN),
        Step::Poll,
        "still caught up after a whole page"
    );
}

#[test]
fn a_store_re_open_makes_the_connection_walk_its_store_again() {
    let mut dispatch = running(per_key());
    let reopened = Seen { reopens: 1, ..OPEN };
    assert_eq!(due(&mut dispatch, reopened), Step::Walk);
    walk(&mut dispatch, reopened, &[]);
    assert_eq!(due(&mut dispatch, reopened), Step::Poll);
}

#[test]
fn a_walk_cut_short_by_a_change_of_the_destination_does_not_catch_up() {
    let mut dispatch = Dispatch::new(per_key());
    dispatch.on(Event::Started);
    assert!(dispatch.on(Event::WalkBegins(OPEN)).is_empty());
    go(&offer(&mut dispatch, &container(1, "a", "p"), Found::Walk)).unwrap();
    let next_epoch = Seen {
        open_epoch: Some(2),
        ..OPEN
    };
    let halted = dispatch.on(Event::Offered(
        &container(2, "b", "p"),
        Found::Walk,
        next_epoch,
    ));
    assert_eq!(halted, [Action::Halt]);
    ended(&mut dispatch, next_epoch);
    assert_eq!(due(&mut dispatch, next_epoch), Step::Walk);
}

#[test]
fn a_page_is_not_dispatched_once_the_mark_moved_and_then_the_store_is_walked() {
    let mut dispatch = running(per_key());
    assert_eq!(due(&mut dispatch, OPEN), Step::Poll);
    let first = page(&mut dispatch, &container(1, "a", "p"));
    // A delivery of an older container let go meanwhile: it may be behind this page.
    let other = go(&offer(&mut dispatch, &container(9, "z", "p"), PROBE)).unwrap();
    dispatch.on(let_go(other));
    assert_eq!(
        offer(&mut dispatch, &container(2, "b", "p"), Found::Page),
        [Action::Halt]
    );
    ended(&mut dispatch, OPEN);
    assert!(dispatch.is_current(first));
    assert_eq!(due(&mut dispatch, OPEN), Step::Walk);
}

#[test]
fn while_the_destination_does_not_accept_nothing_is_dispatched_but_probes() {
    let mut dispatch = running(per_key());
    assert_eq!(
        dispatch.on(Event::DestinationChanged(CLOSED)),
        [Action::OfferProbe]
    );
    assert_eq!(
        due(&mut dispatch, CLOSED),
        Step::Poll,
        "polling goes on; walking waits for the destination"
    );
    let stored = container(1, "a", "p");
    let from_page = dispatch.on(Event::Offered(&stored, Found::Page, CLOSED));
    assert_eq!(from_page, [Action::Halt]);
    assert!(dispatch
        .on(Event::WalkBegins(CLOSED))
        .contains(&Action::Halt));
    let probe = dispatch.on(Event::Offered(&stored, PROBE, CLOSED));
    assert!(matches!(probe[..], [Action::Enrich { verify: true, .. }]));
    let open_again = Seen {
        open_epoch: Some(2),
        ..OPEN
    };
    assert_eq!(
        dispatch.on(Event::DestinationChanged(open_again)),
        [Action::Walk],
        "the backlog is walked when it accepts again"
    );
}

#[test]
fn dead_letters_sent_back_are_walked_to_now_or_when_the_destination_accepts() {
    let mut dispatch = running(per_key());
    assert_eq!(dispatch.on(Event::Redispatch(OPEN)), [Action::Walk]);
    assert_eq!(due(&mut dispatch, OPEN), Step::Walk);
    walk(&mut dispatch, OPEN, &[]);
    assert_eq!(dispatch.on(Event::Redispatch(CLOSED)), []);
    assert!(!dispatch.walk_due());
    assert_eq!(due(&mut dispatch, OPEN), Step::Walk, "no longer caught up");
}

#[test]
fn a_container_found_on_a_walk_is_checked_against_the_store_and_a_pages_is_not() {
    let mut dispatch = running(DeliveryOrder::None);
    dispatch.on(Event::WalkBegins(OPEN));
    let walked = offer(&mut dispatch, &container(1, "a", "p"), Found::Walk);
    assert!(matches!(walked[..], [Action::Enrich { verify: true, .. }]));
    dispatch.on(Event::StepDue(Step::Poll, OPEN));
    let paged = offer(&mut dispatch, &container(2, "a", "p"), Found::Page);
    assert!(matches!(paged[..], [Action::Enrich { verify: false, .. }]));
}
