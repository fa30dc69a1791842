//! The EHR side's backoff: each consecutive failure of a connection doubles its wait, up to
//! a bound, and a success resets it.

use std::time::Duration;

use super::schedule::{jitter_sample, jittered};

/// The backoff of one EHR connection: each consecutive failure doubles the wait from `min` up
/// to `max`, so a struggling EHR is not hammered, and a success resets it so recovery is quick.
#[derive(Debug, Clone)]
pub struct Backoff {
    /// The wait after the first failure; also the unit that doubles.
    min: Duration,
    /// No wait ever exceeds this, whatever the failure count, jitter or `Retry-After`.
    max: Duration,
    /// Consecutive failures since the last [`Backoff::reset`].
    failures: u32,
    /// Source of jitter samples in `[-1, 1]`; injectable so tests are deterministic.
    sample: fn() -> f64,
}

impl Backoff {
    /// A backoff with random ±20 % jitter, for production.
    pub fn new(min: Duration, max: Duration) -> Self {
        Self::with_jitter(min, max, jitter_sample)
    }

    /// A backoff whose jitter comes from `sample` (values in `[-1, 1]`), so tests can pin it.
    pub fn with_jitter(min: Duration, max: Duration, sample: fn() -> f64) -> Self {
        Self {
            min,
            max: max.max(min),
            failures: 0,
            sample,
        }
    }

    /// Records one more consecutive failure and returns how long to wait before the next poll:
    /// `min * 2^(failures-1)` capped at `max`, jittered ±20 % (and capped at `max` again, so
    /// `max` is a hard bound). An EHR's `Retry-After` lengthens the wait, but never past `max`:
    /// a misconfigured or hostile header must not stall a connection for days.
    pub fn fail(&mut self, retry_after: Option<Duration>) -> Duration {
        self.failures = self.failures.saturating_add(1);
        // 2^31 of any non-zero `min` already exceeds every sensible `max`; clamping the
        // exponent keeps the multiplication from overflowing.
        let exponent = (self.failures - 1).min(31);
        let step = self
            .min
            .checked_mul(1 << exponent)
            .unwrap_or(self.max)
            .min(self.max);
        let wait = jittered(step, (self.sample)()).min(self.max);
        match retry_after {
            Some(asked) => wait.max(asked.min(self.max)),
            None => wait,
        }
    }

    /// Forgets past failures after a success, so the next failure waits only `min` again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// Consecutive failures since the last reset, for status pages and logs.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn backoff_doubles_per_failure_until_the_cap() {
        let mut backoff = Backoff::with_jitter(secs(1), secs(10), || 0.0);
        let waits: Vec<Duration> = (0..6).map(|_| backoff.fail(None)).collect();
        assert_eq!(
            waits,
            [secs(1), secs(2), secs(4), secs(8), secs(10), secs(10)]
        );
        assert_eq!(backoff.failures(), 6);
    }

    #[test]
    fn backoff_jitter_is_bounded_and_never_exceeds_the_cap() {
        let mut low = Backoff::with_jitter(secs(10), secs(100), || -1.0);
        assert_eq!(low.fail(None), secs(8));
        let mut high = Backoff::with_jitter(secs(10), secs(100), || 1.0);
        assert_eq!(high.fail(None), secs(12));
        for _ in 0..10 {
            assert!(high.fail(None) <= secs(100));
        }
    }

    #[test]
    fn backoff_survives_thousands_of_failures_without_overflow() {
        let mut backoff = Backoff::with_jitter(secs(1), secs(300), || 0.0);
        for _ in 0..5000 {
            assert!(backoff.fail(None) <= secs(300));
        }
    }

    #[test]
    fn backoff_reset_starts_again_from_min() {
        let mut backoff = Backoff::with_jitter(secs(1), secs(60), || 0.0);
        backoff.fail(None);
        backoff.fail(None);
        backoff.reset();
        assert_eq!(backoff.failures(), 0);
        assert_eq!(backoff.fail(None), secs(1));
    }

    #[test]
    fn backoff_honours_retry_after_but_caps_it_at_max() {
        let mut backoff = Backoff::with_jitter(secs(1), secs(60), || 0.0);
        assert_eq!(backoff.fail(Some(secs(30))), secs(30));
        assert_eq!(backoff.fail(Some(secs(86_400))), secs(60));
        assert_eq!(backoff.fail(Some(Duration::ZERO)), secs(4));
    }
}
