//! Unit tests of claims and per-key order across releases and restarts.

use super::*;
use crate::config::DeliveryOrder;
use serde_json::json;
use std::sync::Mutex;

fn container(sequence: u64, key: &str, patient: &str) -> Container {
    Container {
        connection: "c".into(),
        sequence,
        key: key.into(),
        version: sequence.to_string(),
        notification_id: format!("msg_{sequence}"),
        event_type: "t".into(),
        detected_at: chrono::Utc::now(),
        change: json!({"id": key, "patientId": patient}),
        fhir: None,
    }
}

fn claims(order: DeliveryOrder) -> Arc<Claims> {
    let gate = DestinationGate::new("app", 5, crate::status::StatusBoard::default());
    Arc::new(Claims::new(order, Arc::new(gate)))
}

fn per_key() -> DeliveryOrder {
    DeliveryOrder::PerKey { key_pointer: None }
}

fn go(admission: Admission) -> Claim {
    match admission {
        Admission::Go(claim) => claim,
        other => panic!("expected a claim, got {other:?}"),
    }
}

#[test]
fn a_claimed_container_cannot_be_claimed_again_until_released() {
    let claims = claims(DeliveryOrder::None);
    let claim = go(claims.admit(&container(7, "a", "p")));
    assert!(matches!(
        claims.admit(&container(7, "a", "p")),
        Admission::Taken
    ));
    drop(claim);
    go(claims.admit(&container(7, "a", "p")));
}

#[test]
fn without_order_containers_of_one_key_go_together() {
    let claims = claims(DeliveryOrder::None);
    let _first = go(claims.admit(&container(1, "a", "p")));
    let _second = go(claims.admit(&container(2, "a", "p")));
}

#[test]
fn a_later_container_of_a_key_waits_and_is_not_promoted_without_a_connection() {
    let claims = claims(per_key());
    let first = go(claims.admit(&container(1, "a", "p")));
    assert!(matches!(
        claims.admit(&container(2, "a", "p")),
        Admission::Waits
    ));
    go(claims.admit(&container(3, "b", "p")));
    assert!(matches!(
        claims.admit(&container(2, "a", "p")),
        Admission::Taken
    ));
    // Finished, but no connection listens to dispatch 2: the line dissolves, and the next
    // walk dispatches 2 again.
    first.finish();
    go(claims.admit(&container(2, "a", "p")));
}

#[test]
fn the_ordering_key_pointer_groups_records_of_one_patient() {
    let claims = claims(DeliveryOrder::PerKey {
        key_pointer: Some("/patientId".into()),
    });
    let _first = go(claims.admit(&container(1, "appt-1", "pat-1")));
    assert!(matches!(
        claims.admit(&container(2, "appt-2", "pat-1")),
        Admission::Waits
    ));
    go(claims.admit(&container(3, "appt-3", "pat-2")));
}

#[test]
fn a_restart_frees_enrichment_claims_and_waiting_containers_but_not_deliveries() {
    let claims = claims(per_key());
    let (recipient, _system) = recipient();
    let enriching = go(claims.admit(&container(1, "a", "p")));
    let delivering = go(claims.admit(&container(2, "b", "p")));
    assert!(delivering.delivering());
    assert!(matches!(
        claims.admit(&container(3, "b", "p")),
        Admission::Waits
    ));
    claims.begin_generation(recipient);
    assert!(!enriching.is_current() && !enriching.delivering());
    let taken_over = go(claims.admit(&container(1, "a", "p")));
    assert!(matches!(
        claims.admit(&container(2, "b", "p")),
        Admission::Taken
    ));
    assert!(
        matches!(claims.admit(&container(3, "b", "p")), Admission::Waits),
        "waits again behind the delivery that survived the restart"
    );
    // The old claim's late drop must not release the new owner's claim.
    drop(enriching);
    assert!(taken_over.is_current());
    assert_eq!(claims.len(), 3);
}

/// What a connection was told by released claims: the promoted claims (kept, so dropping
/// them does not let them go) and `None` for each container let go.
type Told = Arc<Mutex<Vec<Option<Claim>>>>;

/// A connection stand-in that records what released claims tell it, on its own System.
fn recipient() -> (Recipient<Released>, actix::SystemRunner) {
    let (recipient, _, system) = connection();
    (recipient, system)
}

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
    system.block_on(async { actix_rt::time::sleep(std::time::Duration::from_millis(5)).await });
    std::mem::take(&mut *told.lock().unwrap())
}

#[test]
fn a_finished_head_promotes_the_next_of_its_key_and_a_let_go_one_asks_for_a_walk() {
    let claims = claims(per_key());
    let (connection, seen, system) = connection();
    claims.begin_generation(connection);
    let first = go(claims.admit(&container(1, "a", "p")));
    for sequence in [2, 3] {
        let waits = claims.admit(&container(sequence, "a", "p"));
        assert!(matches!(waits, Admission::Waits));
    }
    first.finish();
    let mut promoted = told(&system, &seen);
    assert_eq!(promoted.len(), 1);
    let second = promoted.pop().unwrap().expect("the next of the key");
    assert_eq!(second.sequence(), 2);
    assert_eq!(claims.let_go_count(), 0);
    // Let go (the destination stopped taking it): 3 must not overtake 2, which stays pending.
    drop(second);
    let told = told(&system, &seen);
    assert!(matches!(told.as_slice(), [None]), "asks for a walk");
    assert_eq!(claims.let_go_count(), 1);
    let _again = go(claims.admit(&container(2, "a", "p")));
    assert!(matches!(
        claims.admit(&container(3, "a", "p")),
        Admission::Waits
    ));
}

#[test]
fn a_delivered_claim_notes_the_time_of_delivery() {
    let claims = claims(per_key());
    assert_eq!(claims.last_delivered(), None);
    let before = chrono::Utc::now() - chrono::Duration::milliseconds(1);
    let claim = go(claims.admit(&container(3, "a", "p")));
    claim.delivered();
    claim.finish();
    let at = claims.last_delivered().expect("a delivery was noted");
    assert!(at >= before && at <= chrono::Utc::now());
    assert!(claims.is_empty(), "the claim itself is released as usual");
}
