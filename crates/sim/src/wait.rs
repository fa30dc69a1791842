//! Waiting on a condition with a deadline instead of sleeping a fixed time: how tests that
//! drive Courier against the simulators wait for what they expect. [`until`] is the one loop
//! that sleeps, between two looks at the condition.

use std::future::Future;
use std::time::{Duration, Instant};

/// How often a condition is looked at while waiting for it.
const LOOK_EVERY: Duration = Duration::from_millis(10);

/// Waits until `condition` holds, checking every 10 ms; panics naming `what` after `timeout`.
pub async fn eventually(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    eventually_some(what, timeout, || {
        std::future::ready(condition().then_some(()))
    })
    .await;
}

/// [`eventually`] for a condition that awaits (one that reads Courier's store).
pub async fn eventually_async(
    what: &str,
    timeout: Duration,
    mut condition: impl AsyncFnMut() -> bool,
) {
    let deadline = Instant::now() + timeout;
    while !condition().await {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        actix_rt::time::sleep(LOOK_EVERY).await;
    }
}

/// Waits until `probe` (which may ask a server) answers `Some`, and returns that; asks every
/// 10 ms and panics naming `what` after `timeout`.
pub async fn eventually_some<T, F>(what: &str, timeout: Duration, probe: impl FnMut() -> F) -> T
where
    F: Future<Output = Option<T>>,
{
    let found = until(timeout, LOOK_EVERY, probe).await;
    found.unwrap_or_else(|| panic!("timed out after {timeout:?} waiting for {what}"))
}

/// Looks at `probe` every `every` until it answers `Some`, for at most `within`; `None` when
/// it never did (the caller says why that fails, with what it knows: a child's output, a log).
pub async fn until<T, F>(
    within: Duration,
    every: Duration,
    mut probe: impl FnMut() -> F,
) -> Option<T>
where
    F: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(found) = probe().await {
            return Some(found);
        }
        if Instant::now() >= deadline {
            return None;
        }
        actix_rt::time::sleep(every).await;
    }
}

/// [`until`] on a thread that may block: outside the actix runtime, or watching a process.
pub fn until_blocking<T>(
    within: Duration,
    every: Duration,
    mut probe: impl FnMut() -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(found) = probe() {
            return Some(found);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(every);
    }
}
