//! Tests of the shared dispatch as the actors use it: releases reach the connection that
//! runs now, or, with none, let their containers go for the next walk. (The machine's own
//! rules are tested without actors in `crate::dispatch`.)

use super::*;
use crate::dispatch::Found;
use std::sync::Mutex;

fn container(sequence: u64, key: &str) -> Container {
    crate::dispatch::tests::container(sequence, key, "p")
}

fn claims() -> Arc<Claims> {
    claims_on(crate::clock::Clock::system())
}

/// [`claims`] whose destination's gate reads `clock`.
fn claims_on(clock: crate::clock::Clock) -> Arc<Claims> {
    let board = crate::status::StatusBoard::default();
    let gate = DestinationGate::with_clock("app", 5, board, clock);
    let order = DeliveryOrder::PerKey { key_pointer: None };
    Arc::new(Claims::new(order, Arc::new(gate)))
}

/// Offers `container` as a probe would (no walk needed; a probe token never handed out, so
/// no slot is given back): its claim, or what the machine answered instead.
pub(crate) fn admit(claims: &Arc<Claims>, container: &Container) -> Result<Claim, Vec<Action>> {
    let found = Found::Probe(u64::MAX);
    match claims.on(Event::Offered(container, found, claims.seen(0)))[..] {
        [Action::Enrich { ticket, .. }] => Ok(claims.claim(ticket)),
        ref other => Err(other.to_vec()),
    }
}

#[test]
fn a_later_container_of_a_key_waits_and_is_not_promoted_without_a_connection() {
    let claims = claims();
    let first = admit(&claims, &container(1, "a")).unwrap();
    assert_eq!(
        admit(&claims, &container(2, "a")).unwrap_err(),
        [Action::Queued]
    );
    admit(&claims, &container(3, "b")).unwrap();
    assert_eq!(admit(&claims, &container(2, "a")).unwrap_err(), []);
    // Finished, but no connection listens to dispatch 2: the line dissolves, and the next
    // walk dispatches 2 again.
    first.finish();
    admit(&claims, &container(2, "a")).unwrap();
}

/// What a connection was told by released claims: the promoted claims and `None` for each
/// walk asked for.
type Told = Arc<Mutex<Vec<Option<Claim>>>>;

/// A connection stand-in that records what released claims tell it, on its own System.
fn connection() -> (Recipient<Released>, Told, actix::SystemRunner) {
    use actix::prelude::*;
    struct Sink(Told);
    impl Actor for Sink {
        type Context = Context<Self>;
    }
    impl Handler<Released> for Sink {
        type Result = ();
        fn handle(&mut self, msg: Released, _: &mut Context<Self>) {
            let claim = match msg {
                Released::Next(claim) => Some(claim),
                Released::LetGo => None,
            };
            self.0.lock().unwrap().push(claim);
        }
    }
    let told = Told::default();
    let system = actix::System::new();
    let sink = Sink(Arc::clone(&told));
    let addr = system.block_on(async { sink.start() });
    (addr.recipient(), told, system)
}

/// Lets the stand-in handle what it was sent, and takes it.
fn told(system: &actix::SystemRunner, told: &Told) -> Vec<Option<Claim>> {
    system.block_on(async { actix_rt::task::yield_now().await });
    std::mem::take(&mut *told.lock().unwrap())
}

#[test]
fn a_finished_head_promotes_the_next_of_its_key_and_a_let_go_one_asks_for_a_walk() {
    let claims = claims();
    let (connection, seen, system) = connection();
    assert_eq!(
        claims.begin_generation(connection),
        [Action::Run(crate::dispatch::Step::Walk)]
    );
    let first = admit(&claims, &container(1, "a")).unwrap();
    for sequence in [2, 3] {
        let waits = admit(&claims, &container(sequence, "a")).unwrap_err();
        assert_eq!(waits, [Action::Queued]);
    }
    first.finish();
    let mut promoted = told(&system, &seen);
    assert_eq!(promoted.len(), 1);
    let second = promoted.pop().unwrap().expect("the next of the key");
    assert_eq!(second.sequence(), 2);
    assert_eq!(claims.let_go_count(), 0);
    // Let go (the destination stopped taking it): 3 must not overtake 2, which stays pending.
    second.let_go();
    let told = told(&system, &seen);
    assert!(matches!(told.as_slice(), [None]), "asks for a walk");
    assert_eq!(claims.let_go_count(), 1);
    let _again = admit(&claims, &container(2, "a")).unwrap();
    assert_eq!(
        admit(&claims, &container(3, "a")).unwrap_err(),
        [Action::Queued]
    );
}

#[test]
fn a_promotion_for_a_connection_that_is_gone_lets_its_container_go() {
    let claims = claims();
    let (connection, _seen, system) = connection();
    claims.begin_generation(connection);
    drop(system);
    let first = admit(&claims, &container(1, "a")).unwrap();
    admit(&claims, &container(2, "a")).unwrap_err();
    first.finish();
    assert!(claims.is_empty(), "2 is left for the next walk");
    assert_eq!(claims.let_go_count(), 1);
}

#[test]
fn a_delivered_claim_notes_the_time_of_delivery() {
    let clock = crate::clock::ManualClock::stopped_at("2026-03-01T08:00:00Z".parse().unwrap());
    let claims = claims_on(clock.clock());
    assert_eq!(claims.last_delivered(), None);
    clock.advance(std::time::Duration::from_secs(90));
    let claim = admit(&claims, &container(3, "a")).unwrap();
    claim.delivered();
    assert_eq!(
        claims.last_delivered(),
        Some("2026-03-01T08:01:30Z".parse().unwrap())
    );
    assert!(claims.is_empty(), "the claim itself is released as usual");
}
