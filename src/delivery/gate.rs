//! `DestinationGate`: one destination's [`Health`], shared by its delivery actors on every
//! worker and by the connections that feed it. It says whether notifications may go out,
//! hands out the one probe of a failing destination, wakes deliveries waiting for a retry when
//! the state changes, tells the connections, shows the state and logs each change once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::Notify;

use super::health::{Health, HealthState, PauseCause, Transition};
use crate::status::{DestinationState, StatusBoard};

/// Told whether the destination accepts notifications, after every change.
pub type Listener = Box<dyn Fn(bool) + Send + Sync>;

/// See the module doc.
pub struct DestinationGate {
    id: String,
    health: Mutex<Health>,
    /// `health` is healthy; read without the lock on every dispatch.
    accepting: Arc<AtomicBool>,
    /// Woken at every change, so a delivery waiting for its retry lets go at once.
    changed: Notify,
    listeners: Mutex<Vec<Listener>>,
    board: StatusBoard,
}

/// The probe slot of a failing destination, given back when dropped.
pub struct Probe<'a> {
    gate: &'a DestinationGate,
    /// Probes of this slot that failed, which set the wait before the next.
    pub failures: usize,
}

impl Drop for Probe<'_> {
    fn drop(&mut self) {
        self.gate.lock().release_probe();
    }
}

impl DestinationGate {
    /// A healthy destination `id` that fails after `threshold` failed notifications in a row.
    pub fn new(id: &str, threshold: u32, board: StatusBoard) -> Self {
        let gate = Self {
            id: id.to_owned(),
            health: Mutex::new(Health::new(threshold, Utc::now())),
            accepting: Arc::new(AtomicBool::new(true)),
            changed: Notify::new(),
            listeners: Mutex::new(Vec::new()),
            board,
        };
        gate.show();
        gate
    }

    /// Whether notifications may go out now (the destination is healthy).
    pub fn accepts(&self) -> bool {
        self.accepting.load(Ordering::Acquire)
    }

    /// The flag behind [`DestinationGate::accepts`], for holders that cannot keep the gate.
    pub fn accepting_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.accepting)
    }

    /// Adds a listener, told after every change whether the destination accepts.
    pub fn listen(&self, listener: Listener) {
        self.listeners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(listener);
    }

    /// Whether an attempt may be made now, by the probe or by anyone.
    pub fn may_attempt(&self, probe: bool) -> bool {
        self.lock().may_attempt(probe)
    }

    /// An attempt succeeded.
    pub fn succeeded(&self) {
        let change = self.lock().succeeded(Utc::now());
        self.apply(change, None);
    }

    /// An attempt of the notification `notification` (a hash of its id) failed with `error`.
    pub fn failed(&self, notification: u64, error: &str) {
        let change = self.lock().failed(notification, Utc::now());
        self.apply(change, Some(error));
    }

    /// The receiver answered `410 Gone`.
    pub fn gone(&self) {
        let change = self.lock().pause(PauseCause::Gone, Utc::now());
        self.apply(change, Some("HTTP 410 Gone"));
    }

    /// An operator pauses the destination.
    pub fn pause(&self) {
        let change = self.lock().pause(PauseCause::Operator, Utc::now());
        self.apply(change, None);
    }

    /// An operator resumes the destination.
    pub fn resume(&self) {
        let change = self.lock().resume(Utc::now());
        self.apply(change, None);
    }

    /// Takes the one probe slot of a failing destination, if free.
    pub fn take_probe(&self) -> Option<Probe<'_>> {
        // Not `then_some`: a `Probe` built and dropped on refusal would give the slot back.
        let taken = self.lock().take_probe();
        taken.then(|| Probe {
            gate: self,
            failures: 0,
        })
    }

    /// Waits `delay`, or less when the state changes meanwhile.
    pub async fn wait(&self, delay: Duration) {
        let changed = self.changed.notified();
        let _ = actix_rt::time::timeout(delay, changed).await;
    }

    fn apply(&self, change: Option<Transition>, error: Option<&str>) {
        let Some(change) = change else { return };
        let dest = &self.id;
        let error = error.unwrap_or("");
        match change {
            Transition::Failing => log::warn!(
                "dest={dest} failing ({error}); probing with one notification, the rest waits in the store"
            ),
            Transition::Healthy => log::info!("dest={dest} healthy again; delivering the backlog"),
            Transition::Paused(PauseCause::Gone) => log::error!(
                "dest={dest} paused: the receiver answered 410 Gone; nothing is sent until an operator resumes it"
            ),
            Transition::Paused(PauseCause::Operator) => {
                log::info!("dest={dest} paused by an operator")
            }
        }
        let accepting = change == Transition::Healthy;
        self.accepting.store(accepting, Ordering::Release);
        self.show();
        self.changed.notify_waiters();
        for listener in self
            .listeners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            listener(accepting);
        }
    }

    /// Writes the state to the status board.
    fn show(&self) {
        let (state, since, cause) = {
            let health = self.lock();
            (health.state(), health.since(), health.cause())
        };
        let reason = match (state, cause) {
            (HealthState::Paused, Some(PauseCause::Gone)) => Some("410 Gone".to_owned()),
            (HealthState::Paused, _) => Some("paused by an operator".to_owned()),
            (HealthState::Failing, _) => None,
            (HealthState::Healthy, _) => None,
        };
        self.board.destination(&self.id, |d| {
            d.state = match state {
                HealthState::Healthy => DestinationState::Healthy,
                HealthState::Failing => DestinationState::Failing,
                HealthState::Paused => DestinationState::Paused,
            };
            d.state_since = Some(since);
            d.state_reason = reason.or_else(|| {
                (state == HealthState::Failing).then(|| d.last_error.clone().unwrap_or_default())
            });
        });
    }

    fn lock(&self) -> MutexGuard<'_, Health> {
        self.health.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_slot_is_held_until_its_probe_ends_and_a_refusal_does_not_free_it() {
        let board = StatusBoard::default();
        let gate = DestinationGate::new("app", 1, board.clone());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        gate.listen(Box::new(move |accepting| {
            log.lock().unwrap().push(accepting)
        }));
        assert!(gate.take_probe().is_none(), "no probe while healthy");
        gate.failed(1, "HTTP 503");
        assert!(!gate.accepts());
        let probe = gate.take_probe().expect("the slot is free");
        assert!(gate.take_probe().is_none());
        assert!(gate.take_probe().is_none(), "a refusal left the slot taken");
        drop(probe);
        let probe = gate.take_probe().expect("given back");
        assert_eq!(
            board.snapshot().destinations["app"].state,
            DestinationState::Failing
        );
        gate.succeeded();
        drop(probe);
        assert!(gate.accepts());
        gate.gone();
        gate.resume();
        assert_eq!(*seen.lock().unwrap(), [false, true, false, true]);
    }
}
