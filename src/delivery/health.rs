//! A destination's health, as a pure state machine: `healthy` until `failure_threshold`
//! attempts in a row failed, then `failing` (one probe at a time goes out, a different
//! notification each time) until an attempt succeeds; `paused` by a `410 Gone` or an operator until an operator resumes it.
//!
//! Failures are counted per notification: the retries of the notification that failed last
//! do not count again, so one notification the receiver refuses for its own content (a
//! poisoned key) is retried on its schedule and dead-lettered, while a receiver that refuses
//! everything (many notifications failing, none succeeding) is soon `failing`.
//!
//! A low-volume destination (one change pending, one key, `max_in_flight = 1`) sees too few
//! notifications for that count, so the end of a schedule decides too ([`Health::settle`]): a
//! notification refused to the end of its schedule is dead-lettered only when some attempt
//! succeeded since its first failure; otherwise nothing tells a down destination from a
//! poisoned record, the destination turns `failing`, and the notification is kept as a
//! suspect, dead-lettered at its next refusal once another notification got through.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

/// The most suspects remembered; past it they are forgotten (each then gets a whole schedule
/// again), which costs time, never a notification.
const SUSPECTS_AT_MOST: usize = 1024;

/// What to do with a notification whose retry schedule ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The destination took other notifications meanwhile: this one is refused for itself.
    DeadLetter,
    /// Nothing succeeded meanwhile: the destination may be down, so it is kept pending.
    Keep,
}

/// Where a destination stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthState {
    /// Notifications go out, up to `max_in_flight`, and are retried on their schedule.
    Healthy,
    /// Only one probe goes out at a time; everything else stays pending in the store.
    Failing,
    /// Nothing goes out until an operator resumes the destination.
    Paused,
}

/// Why a destination is paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PauseCause {
    /// The receiver answered `410 Gone`: it says it is gone for good.
    Gone,
    /// An operator paused it.
    Operator,
}

/// A change of state, for the caller to log and show once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Healthy to failing.
    Failing,
    /// Failing (or paused) to healthy.
    Healthy,
    /// Paused, for this cause.
    Paused(PauseCause),
}

/// The state machine of one destination.
#[derive(Debug, Clone)]
pub struct Health {
    threshold: u32,
    state: HealthState,
    since: DateTime<Utc>,
    cause: Option<PauseCause>,
    /// Failed notifications in a row since the last success.
    failures: u32,
    /// Which notification failed last (a hash of its id), so its retries count once.
    last_failed: Option<u64>,
    /// Whether a probe holds the one slot of a failing destination.
    probe_out: bool,
    /// Probes that failed since the destination turned failing; they set the next wait.
    probe_failures: usize,
    /// Attempts that succeeded after a failure (a success with no failure before it is not
    /// counted: the gate skips the lock then); it only grows, so a changed value proves a
    /// success since it was read.
    successes: u64,
    /// Notifications (hashes of their ids) refused to the end of a schedule while nothing
    /// succeeded, with `successes` at that moment.
    suspects: HashMap<u64, u64>,
}

impl Health {
    /// A reload changed `failure_threshold`: it applies from the next failed attempt on (the
    /// failures counted so far stay counted; the state does not change by itself).
    pub fn set_threshold(&mut self, threshold: u32) {
        self.threshold = threshold.max(1);
    }

    /// A healthy destination that fails after `threshold` failed notifications in a row.
    pub fn new(threshold: u32, now: DateTime<Utc>) -> Self {
        Self {
            threshold: threshold.max(1),
            state: HealthState::Healthy,
            since: now,
            cause: None,
            failures: 0,
            last_failed: None,
            probe_out: false,
            probe_failures: 0,
            successes: 0,
            suspects: HashMap::new(),
        }
    }

    /// The current state.
    pub fn state(&self) -> HealthState {
        self.state
    }

    /// Since when the destination is in its state.
    pub fn since(&self) -> DateTime<Utc> {
        self.since
    }

    /// Why it is paused, while paused.
    pub fn cause(&self) -> Option<PauseCause> {
        self.cause
    }

    fn enter(&mut self, state: HealthState, now: DateTime<Utc>) {
        self.state = state;
        self.since = now;
        self.failures = 0;
        self.last_failed = None;
        self.probe_out = false;
        self.probe_failures = 0;
        if state != HealthState::Paused {
            self.cause = None;
        }
    }

    /// An attempt succeeded: a failing destination is healthy again.
    pub fn succeeded(&mut self, now: DateTime<Utc>) -> Option<Transition> {
        self.successes += 1;
        self.failures = 0;
        self.last_failed = None;
        if self.state != HealthState::Failing {
            return None;
        }
        self.enter(HealthState::Healthy, now);
        Some(Transition::Healthy)
    }

    /// An attempt of notification `notification` (a hash of its id) failed.
    pub fn failed(&mut self, notification: u64, now: DateTime<Utc>) -> Option<Transition> {
        if self.last_failed != Some(notification) {
            self.last_failed = Some(notification);
            self.failures = self.failures.saturating_add(1);
        }
        if self.state != HealthState::Healthy || self.failures < self.threshold {
            return None;
        }
        self.enter(HealthState::Failing, now);
        Some(Transition::Failing)
    }

    /// How many attempts succeeded after a failure so far: a mark for [`Health::settle`].
    pub fn successes(&self) -> u64 {
        self.successes
    }

    /// The schedule of notification `notification` ran out; its first attempt failed when
    /// [`Health::successes`] was `mark`. A success since then, or an earlier schedule of its
    /// own that ran out before one, shows the destination takes others: dead-letter it.
    /// Otherwise it becomes a suspect and a healthy destination turns failing.
    pub fn settle(
        &mut self,
        notification: u64,
        mark: u64,
        now: DateTime<Utc>,
    ) -> (Verdict, Option<Transition>) {
        if self.successes != mark || self.proven_refused(notification) {
            self.suspects.remove(&notification);
            return (Verdict::DeadLetter, None);
        }
        if self.suspects.len() >= SUSPECTS_AT_MOST {
            self.suspects.clear();
        }
        self.suspects.insert(notification, self.successes);
        if self.state != HealthState::Healthy {
            return (Verdict::Keep, None);
        }
        self.enter(HealthState::Failing, now);
        (Verdict::Keep, Some(Transition::Failing))
    }

    /// Whether `notification` is a suspect and some attempt succeeded since its schedule ran
    /// out: refused again, it is refused for itself.
    pub fn proven_refused(&self, notification: u64) -> bool {
        self.suspects
            .get(&notification)
            .is_some_and(|at| *at != self.successes)
    }

    /// Pauses the destination (from any state but paused).
    pub fn pause(&mut self, cause: PauseCause, now: DateTime<Utc>) -> Option<Transition> {
        if self.state == HealthState::Paused {
            return None;
        }
        self.enter(HealthState::Paused, now);
        self.cause = Some(cause);
        Some(Transition::Paused(cause))
    }

    /// Resumes a paused destination, as healthy: the next failures decide again.
    pub fn resume(&mut self, now: DateTime<Utc>) -> Option<Transition> {
        if self.state != HealthState::Paused {
            return None;
        }
        self.enter(HealthState::Healthy, now);
        Some(Transition::Healthy)
    }

    /// Takes the probe slot of a failing destination: `true` for exactly one taker until
    /// [`Health::release_probe`].
    pub fn take_probe(&mut self) -> bool {
        let free = self.state == HealthState::Failing && !self.probe_out;
        self.probe_out |= free;
        free
    }

    /// The probe ended (delivered, or let go).
    pub fn release_probe(&mut self) {
        self.probe_out = false;
    }

    /// Whether a probe holds the slot.
    pub fn probe_out(&self) -> bool {
        self.probe_out
    }

    /// A probe failed; returns how many have failed since the destination turned failing.
    pub fn probe_failed(&mut self) -> usize {
        self.probe_failures += 1;
        self.probe_failures
    }

    /// Whether a notification may be attempted: any while healthy, the probe while failing.
    pub fn may_attempt(&self, probe: bool) -> bool {
        match self.state {
            HealthState::Healthy => true,
            HealthState::Failing => probe,
            HealthState::Paused => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn threshold_failed_notifications_in_a_row_make_it_failing_and_a_success_heals_it() {
        let mut health = Health::new(3, at(0));
        assert_eq!(health.failed(1, at(1)), None);
        assert_eq!(health.failed(2, at(2)), None);
        assert_eq!(health.failed(3, at(3)), Some(Transition::Failing));
        assert_eq!(
            (health.state(), health.since()),
            (HealthState::Failing, at(3))
        );
        assert_eq!(health.failed(4, at(4)), None, "one line per change");
        assert_eq!(health.succeeded(at(5)), Some(Transition::Healthy));
        assert_eq!(health.succeeded(at(6)), None);
        assert_eq!(health.state(), HealthState::Healthy);
    }

    #[test]
    fn a_success_in_between_starts_the_count_again() {
        let mut health = Health::new(2, at(0));
        health.failed(1, at(1));
        health.succeeded(at(2));
        assert_eq!(health.failed(2, at(3)), None);
        assert_eq!(health.failed(3, at(4)), Some(Transition::Failing));
    }

    #[test]
    fn retries_of_one_notification_count_once() {
        let mut health = Health::new(2, at(0));
        for t in 0..10 {
            assert_eq!(
                health.failed(7, at(t)),
                None,
                "a poisoned notification alone"
            );
        }
        assert_eq!(health.failed(8, at(11)), Some(Transition::Failing));
    }

    #[test]
    fn a_failing_destination_has_one_probe_slot() {
        let mut health = Health::new(1, at(0));
        assert!(!health.take_probe(), "no probe while healthy");
        assert!(health.may_attempt(false));
        health.failed(1, at(1));
        assert!(!health.may_attempt(false));
        assert!(health.take_probe());
        assert!(!health.take_probe());
        assert!(health.may_attempt(true));
        health.release_probe();
        assert!(health.take_probe());
        assert_eq!((health.probe_failed(), health.probe_failed()), (1, 2));
        health.succeeded(at(2));
        health.failed(2, at(3));
        assert_eq!(
            health.probe_failed(),
            1,
            "counted afresh in each failing spell"
        );
    }

    #[test]
    fn paused_until_resumed_whatever_succeeds_meanwhile() {
        let mut health = Health::new(1, at(0));
        health.failed(1, at(1));
        assert_eq!(
            health.pause(PauseCause::Gone, at(2)),
            Some(Transition::Paused(PauseCause::Gone))
        );
        assert_eq!(health.pause(PauseCause::Operator, at(3)), None);
        assert_eq!(health.cause(), Some(PauseCause::Gone));
        assert!(!health.take_probe() && !health.may_attempt(true));
        assert_eq!(
            health.succeeded(at(4)),
            None,
            "a late success does not resume"
        );
        assert_eq!(health.failed(2, at(5)), None);
        assert_eq!(health.resume(at(6)), Some(Transition::Healthy));
        assert_eq!(
            (health.state(), health.cause()),
            (HealthState::Healthy, None)
        );
        assert_eq!(health.resume(at(7)), None);
    }

    #[test]
    fn a_schedule_that_ran_out_with_no_success_anywhere_makes_it_failing_not_a_dead_letter() {
        let mut health = Health::new(5, at(0));
        let mark = health.successes();
        for t in 0..6 {
            health.failed(7, at(t));
        }
        assert_eq!(
            health.settle(7, mark, at(6)),
            (Verdict::Keep, Some(Transition::Failing))
        );
        assert!(!health.proven_refused(7), "nothing got through yet");
        assert_eq!(health.settle(7, mark, at(7)), (Verdict::Keep, None));
        // Another notification gets through: the suspect, refused again, is refused for itself.
        health.succeeded(at(8));
        assert!(health.proven_refused(7));
        let mark = health.successes();
        assert_eq!(health.settle(7, mark, at(9)), (Verdict::DeadLetter, None));
        assert!(!health.proven_refused(7), "forgotten once settled");
    }

    #[test]
    fn a_success_during_the_schedule_lets_a_refused_notification_be_dead_lettered() {
        let mut health = Health::new(5, at(0));
        health.failed(1, at(1));
        let mark = health.successes();
        health.succeeded(at(2));
        health.failed(1, at(3));
        assert_eq!(health.settle(1, mark, at(4)), (Verdict::DeadLetter, None));
        assert_eq!(health.state(), HealthState::Healthy);
    }
}
