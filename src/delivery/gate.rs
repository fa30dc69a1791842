//! `DestinationGate`: one destination's [`Health`], shared by its delivery actors on every
//! worker and by the connections that feed it. It says whether notifications may go out,
//! hands out the one probe of a failing destination, wakes deliveries waiting for a retry when
//! the state changes, tells the connections, shows the state and logs each change once.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use super::health::{Health, HealthState, PauseCause, Transition, Verdict};
use crate::clock::Clock;
use crate::escape::escaped;
use crate::retry::{jitter_sample, probe_delay};
use crate::status::{DestinationState, StatusBoard};

/// Told after every change of state (which it reads from the gate: listeners of two changes
/// in quick succession may run in either order).
pub type Listener = Box<dyn Fn() + Send + Sync>;

/// See the module doc.
pub struct DestinationGate {
    id: String,
    health: Mutex<Health>,
    /// The number of changes so far, shifted left by one, with bit 0 set while `health` is
    /// healthy; read without the lock on every dispatch, written under it.
    epoch: AtomicU64,
    /// Set (under the lock) by a failed attempt, cleared by the next success: while clear, a
    /// success has nothing to reset and takes no lock, which keeps the hot path of a healthy
    /// destination free of a lock shared by every worker.
    failures_pending: AtomicBool,
    /// The token of the probe holding the slot (0 for none, or for one whose slot a change
    /// of state already freed); written under the `health` lock.
    probe: AtomicU64,
    /// Probes taken so far, which numbers their tokens.
    probes_taken: AtomicU64,
    /// Woken at every change, so a delivery waiting for its retry lets go at once.
    changed: Notify,
    /// By connection id: a restarted connection replaces its listener, a removed one drops it.
    listeners: Mutex<BTreeMap<String, Listener>>,
    board: StatusBoard,
    /// The app's clock: it times the health's changes, and the gate, the one object every
    /// stage of a destination shares (its connections, claims, workers, heartbeats), hands it
    /// on to them.
    clock: Clock,
}

impl std::fmt::Debug for DestinationGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DestinationGate")
            .field("id", &self.id)
            .field("health", &*self.lock())
            .finish_non_exhaustive()
    }
}

/// The probe slot of a failing destination. It travels with the notification chosen to
/// probe, from the connection through enrichment to delivery, and is given back by an
/// explicit call ([`Probe::release`], [`Probe::failed`], or [`DestinationGate::release_probe`]
/// with its token); dropping it gives nothing back. Clones name the same probe: the first
/// release gives the slot back, a later one (of a probe whose slot has since been taken
/// again) changes nothing.
#[derive(Debug, Clone)]
pub struct Probe {
    gate: Arc<DestinationGate>,
    token: u64,
}

impl Probe {
    /// This probe failed: waits the probe delay (less if the state changes meanwhile), then
    /// gives the slot back and tells the connections, one of which sends the next probe, so
    /// probes rotate over the backlog and one notification the receiver refuses for its own
    /// content cannot keep the destination failing.
    pub async fn failed(self, schedule: &[Duration], retry_after: Option<Duration>) {
        let failures = self.gate.lock().probe_failed();
        let delay = probe_delay(schedule, failures, retry_after, jitter_sample());
        self.gate.wait(delay).await;
        self.release();
        self.gate.tell_listeners();
    }

    /// This probe ended (delivered, dead-lettered, let go, or never sent): gives the slot
    /// back.
    pub fn release(&self) {
        self.gate.release_probe(self.token);
    }

    /// Names this probe, for [`DestinationGate::release_probe`].
    pub fn token(&self) -> u64 {
        self.token
    }
}

impl DestinationGate {
    /// A healthy destination `id` that fails after `threshold` failed notifications in a row,
    /// on the system clock.
    pub fn new(id: &str, threshold: u32, board: StatusBoard) -> Self {
        Self::with_clock(id, threshold, board, Clock::system())
    }

    /// [`DestinationGate::new`], timed by `clock` (the app's).
    pub fn with_clock(id: &str, threshold: u32, board: StatusBoard, clock: Clock) -> Self {
        let gate = Self {
            id: id.to_owned(),
            health: Mutex::new(Health::new(threshold, clock.now())),
            epoch: AtomicU64::new(1),
            failures_pending: AtomicBool::new(false),
            probe: AtomicU64::new(0),
            probes_taken: AtomicU64::new(0),
            changed: Notify::new(),
            listeners: Mutex::new(BTreeMap::new()),
            board,
            clock,
        };
        gate.show();
        gate
    }

    /// The app's clock, for everything that feeds or drains this destination.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Whether notifications may go out now (the destination is healthy).
    pub fn accepts(&self) -> bool {
        self.epoch.load(Ordering::Acquire) & 1 == 1
    }

    /// While the destination is healthy, a number that changes at every change of state: a
    /// connection that dispatched everything stored during one healthy period knows, by
    /// comparing it, whether a notification may have been let go since.
    pub fn open_epoch(&self) -> Option<u64> {
        let epoch = self.epoch.load(Ordering::Acquire);
        (epoch & 1 == 1).then_some(epoch >> 1)
    }

    /// Adds connection `id`'s listener, told after every change of state (replacing the
    /// listener of its previous actor, after a reload restarted it).
    pub fn listen(&self, id: &str, listener: Listener) {
        self.listeners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_owned(), listener);
    }

    /// Connection `id` no longer feeds this destination (removed, or moved at a reload).
    pub fn forget(&self, id: &str) {
        self.listeners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }

    /// A reload changed `failure_threshold` (see [`Health::set_threshold`]).
    pub fn set_threshold(&self, threshold: u32) {
        self.lock().set_threshold(threshold);
    }

    /// Whether the destination is paused (by an operator or a `410 Gone`).
    pub fn is_paused(&self) -> bool {
        self.lock().state() == HealthState::Paused
    }

    /// Whether an attempt may be made now, by the probe or by anyone.
    pub fn may_attempt(&self, probe: bool) -> bool {
        match probe {
            false => self.accepts(),
            true => self.lock().may_attempt(true),
        }
    }

    /// An attempt succeeded.
    pub fn succeeded(&self) {
        if self.failures_pending.swap(false, Ordering::AcqRel) {
            self.change(|health, now| health.succeeded(now), None);
        }
    }

    /// An attempt of the notification `notification` (a hash of its id) failed with `error`.
    /// Answers the mark to pass to [`DestinationGate::settle`], read under the same lock as
    /// the failure, so a success landing just after it is never taken for one before it.
    pub fn failed(&self, notification: u64, error: &str) -> u64 {
        let mut mark = 0;
        let failed = |health: &mut Health, now| {
            self.failures_pending.store(true, Ordering::Release);
            mark = health.successes();
            health.failed(notification, now)
        };
        self.change(failed, Some(error));
        mark
    }

    /// The schedule of `notification` ran out with `error` last (see [`Health::settle`]): a
    /// [`Verdict::Keep`] may have turned the destination failing.
    pub fn settle(&self, notification: u64, mark: u64, error: &str) -> Verdict {
        let mut verdict = Verdict::DeadLetter;
        let settle = |health: &mut Health, now| {
            let (decided, change) = health.settle(notification, mark, now);
            verdict = decided;
            change
        };
        self.change(settle, Some(error));
        verdict
    }

    /// Whether `notification` ran out a schedule while nothing got through, and something got
    /// through since: refused again, it is refused for itself.
    pub fn proven_refused(&self, notification: u64) -> bool {
        self.lock().proven_refused(notification)
    }

    /// The receiver answered `410 Gone`.
    pub fn gone(&self) {
        let gone = |health: &mut Health, now| health.pause(PauseCause::Gone, now);
        self.change(gone, Some("HTTP 410 Gone"));
    }

    /// An operator pauses the destination.
    pub fn pause(&self) {
        self.change(|health, now| health.pause(PauseCause::Operator, now), None);
    }

    /// An operator resumes the destination.
    pub fn resume(&self) {
        self.change(|health, now| health.resume(now), None);
    }

    /// Takes the one probe slot of a failing destination, if free.
    pub fn take_probe(self: &Arc<Self>) -> Option<Probe> {
        let mut health = self.lock();
        if !health.take_probe() {
            return None;
        }
        // Counted, so a probe's token is never handed out again.
        let token = self.probes_taken.fetch_add(1, Ordering::Relaxed) + 1;
        self.probe.store(token, Ordering::Relaxed);
        drop(health);
        Some(Probe {
            gate: Arc::clone(self),
            token,
        })
    }

    /// Gives back the probe slot held by the probe `token`; nothing when another probe holds
    /// it now.
    pub fn release_probe(&self, token: u64) {
        let mut health = self.lock();
        if self.probe.load(Ordering::Relaxed) == token {
            self.probe.store(0, Ordering::Relaxed);
            health.release_probe();
        }
    }

    /// Whether the destination is failing with its probe slot free: a connection with
    /// something stored should offer a probe.
    pub fn wants_probe(&self) -> bool {
        let health = self.lock();
        health.state() == HealthState::Failing && !health.probe_out()
    }

    /// Waits `delay`, or less when the state changes meanwhile.
    pub async fn wait(&self, delay: Duration) {
        let changed = self.changed.notified();
        let _ = actix_rt::time::timeout(delay, changed).await;
    }

    /// Runs `event` on the state machine and, when the state changed, moves the epoch under
    /// the same lock (so the flag always matches the state), then tells everyone.
    fn change(
        &self,
        event: impl FnOnce(&mut Health, DateTime<Utc>) -> Option<Transition>,
        error: Option<&str>,
    ) {
        let change = {
            let mut health = self.lock();
            let change = event(&mut health, self.clock.now());
            if change.is_some() {
                let open = u64::from(health.state() == HealthState::Healthy);
                let epoch = (self.epoch.load(Ordering::Relaxed) >> 1) + 1;
                self.epoch.store(epoch << 1 | open, Ordering::Release);
            }
            change
        };
        if let Some(change) = change {
            self.announce(change, error);
        }
    }

    fn announce(&self, change: Transition, error: Option<&str>) {
        let dest = &self.id;
        let error = error.unwrap_or("");
        match change {
            Transition::Failing => log::warn!(
                "dest={dest} failing ({}); probing with one notification, the rest waits in the store",
                escaped(&error)
            ),
            Transition::Healthy => log::info!("dest={dest} healthy again; delivering the backlog"),
            Transition::Paused(PauseCause::Gone) => log::error!(
                "dest={dest} paused: the receiver answered 410 Gone; nothing is sent until an operator resumes it"
            ),
            Transition::Paused(PauseCause::Operator) => {
                log::info!("dest={dest} paused by an operator")
            }
        }
        self.show();
        self.changed.notify_waiters();
        self.tell_listeners();
    }

    fn tell_listeners(&self) {
        for listener in self
            .listeners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
        {
            listener();
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
mod tests;
