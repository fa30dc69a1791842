//! A panic in one connection's work restarts that connection alone, through the real panic
//! containment (`contain_panic`, `fail_hard`, actix's supervised restart); the panic comes
//! from `actors::faults`, which exists only in the crate's own tests.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use courier_sim::SimEhrOptions;

use crate::actors::faults::panic_polls_of;
use crate::app::rig::{eventually, Rig, PATIENCE};

#[actix_rt::test]
async fn a_panic_in_one_connection_restarts_it_while_the_other_keeps_delivering() {
    let panics_left = Arc::new(AtomicUsize::new(2));
    let spend = Arc::clone(&panics_left);
    let _armed = panic_polls_of("flaky", move || {
        spend
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    });
    let t = Rig::start(&["flaky", "steady"], SimEhrOptions::default());
    let (flaky, steady) = (&t.ehrs[0], &t.ehrs[1]);
    let delivered = |connection: &str| t.receiver.delivered_of(connection).0;
    let flaky_changes = flaky.touch_each(4);
    let steady_changes = steady.touch_each(4);
    eventually("the steady connection's notifications", PATIENCE, || {
        delivered("steady") == steady_changes
    })
    .await;
    eventually("the flaky connection recovered", PATIENCE, || {
        delivered("flaky") == flaky_changes
    })
    .await;
    assert_eq!(panics_left.load(Ordering::SeqCst), 0);
    let status = t.app.status();
    assert_eq!(status.connections["flaky"].restarts, 2);
    assert_eq!(status.connections["steady"].restarts, 0);
    assert_eq!(t.receiver.summary().duplicates, 0);
    // After the restarts, new changes still flow on the restarted connection.
    flaky.touch("appt-9");
    eventually("a change after the restarts", PATIENCE, || {
        delivered("flaky").len() == 5
    })
    .await;
}
