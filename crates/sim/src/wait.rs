//! Waiting on a condition with a deadline instead of sleeping a fixed time: how tests that
//! drive Courier against the simulators wait for what they expect.

use std::time::{Duration, Instant};

/// Waits until `condition` holds, checking every 10 ms; panics naming `what` after `timeout`.
pub async fn eventually(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    until(what, timeout, async || condition()).await;
}

/// [`eventually`] for a condition that awaits (one that reads Courier's store).
pub async fn until(what: &str, timeout: Duration, mut condition: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition().await {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
}
