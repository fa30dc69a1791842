//! The one place the service reads the time: the system clock in production, a clock a test
//! moves by hand, so a test of a token's expiry or a retention sweep advances time instead of
//! sleeping through it.
//!
//! Timers (`run_later`, `sleep`) are not behind this seam: they stay on the runtime's clock,
//! which unit tests can pause (`tokio::time::pause`). What reads the time to decide something
//! (a token still fresh, a notification past its retention, a destination's health since
//! when, a heartbeat due) reads it here.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

/// The service's clock; cheap to clone. The default is the system clock, whose `now` costs
/// what `Utc::now()` costs (one branch more, no lock, no allocation): it is read per
/// notification.
#[derive(Clone, Default)]
pub struct Clock {
    /// `None` for the system clock; a test's clock otherwise.
    manual: Option<Arc<Manual>>,
}

impl Clock {
    /// The system clock, as in production.
    pub fn system() -> Self {
        Self::default()
    }

    /// The wall-clock time: what is stored, shown, signed and compared with other hosts.
    #[inline]
    pub fn now(&self) -> DateTime<Utc> {
        match &self.manual {
            None => Utc::now(),
            Some(manual) => manual.now(),
        }
    }

    /// The monotonic time: what a duration inside this process is measured from (a token's
    /// refresh time), unmoved by a step of the wall clock.
    #[inline]
    pub fn instant(&self) -> Instant {
        match &self.manual {
            None => Instant::now(),
            Some(manual) => manual.instant(),
        }
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.manual.is_some() {
            "Clock(manual)"
        } else {
            "Clock(system)"
        })
    }
}

/// A clock a test moves: hand its [`ManualClock::clock`] to the code under test, then
/// [`ManualClock::advance`] it. It never moves backwards.
#[derive(Clone)]
pub struct ManualClock(Arc<Manual>);

struct Manual {
    /// Where the clock stands before any advance: fixed, or `None` to run with the system
    /// clock.
    start: Option<(DateTime<Utc>, Instant)>,
    /// How far the test has moved the clock, in nanoseconds (584 years fit).
    advanced_ns: AtomicU64,
}

impl ManualClock {
    /// A clock that stands still at `start` until advanced: for unit tests, where every
    /// instant is the test's choice.
    pub fn stopped_at(start: DateTime<Utc>) -> Self {
        Self::with_start(Some((start, Instant::now())))
    }

    /// A clock that runs with the system clock, plus whatever it was advanced by: for tests
    /// of the whole service, whose timers and peers run in real time, that need to jump
    /// ahead (past a token's lifetime) without waiting.
    pub fn running() -> Self {
        Self::with_start(None)
    }

    fn with_start(start: Option<(DateTime<Utc>, Instant)>) -> Self {
        Self(Arc::new(Manual {
            start,
            advanced_ns: AtomicU64::new(0),
        }))
    }

    /// The clock to hand to the code under test; it follows every advance.
    pub fn clock(&self) -> Clock {
        Clock {
            manual: Some(Arc::clone(&self.0)),
        }
    }

    /// Moves the clock `by` ahead, wall and monotonic time alike.
    pub fn advance(&self, by: Duration) {
        let ns = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.0.advanced_ns.fetch_add(ns, Ordering::SeqCst);
    }

    /// The clock's wall-clock time now.
    pub fn now(&self) -> DateTime<Utc> {
        self.0.now()
    }
}

impl Manual {
    fn advanced(&self) -> Duration {
        Duration::from_nanos(self.advanced_ns.load(Ordering::SeqCst))
    }

    fn now(&self) -> DateTime<Utc> {
        let base = self.start.map_or_else(Utc::now, |(wall, _)| wall);
        base + chrono::Duration::from_std(self.advanced()).unwrap_or(chrono::Duration::MAX)
    }

    fn instant(&self) -> Instant {
        let base = self.start.map_or_else(Instant::now, |(_, mono)| mono);
        base + self.advanced()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stopped_clock_moves_only_when_advanced_and_its_clones_follow() {
        let start: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
        let manual = ManualClock::stopped_at(start);
        let clock = manual.clock();
        let (wall, mono) = (clock.now(), clock.instant());
        assert_eq!(wall, start);
        assert_eq!(clock.clone().instant(), mono);
        manual.advance(Duration::from_millis(2500));
        assert_eq!(clock.now(), start + chrono::Duration::milliseconds(2500));
        assert_eq!(clock.instant() - mono, Duration::from_millis(2500));
        assert_eq!(manual.now(), clock.now());
    }

    #[test]
    fn a_running_clock_keeps_system_time_plus_its_advances() {
        let manual = ManualClock::running();
        let clock = manual.clock();
        manual.advance(Duration::from_secs(3600));
        let ahead = clock.now() - Utc::now();
        assert!(ahead > chrono::Duration::minutes(59), "{ahead}");
        assert!(ahead <= chrono::Duration::minutes(60), "{ahead}");
        assert!(clock.instant() >= Instant::now() + Duration::from_secs(3599));
    }

    #[test]
    fn the_system_clock_reads_the_system_time() {
        let clock = Clock::system();
        let (before, now, after) = (Utc::now(), clock.now(), Utc::now());
        assert!(before <= now && now <= after);
        assert_eq!(format!("{clock:?}"), "Clock(system)");
    }
}
