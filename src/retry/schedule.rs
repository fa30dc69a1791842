//! The delivery side's retry schedule: the delay before each attempt of a notification, the
//! delay between probes of a failing destination, and the jitter that keeps them apart.

use std::time::Duration;

/// How far jitter may move a delay either way, as a fraction of it: ±20 % is enough to keep
/// many connections or notifications from retrying in lockstep without blurring the schedule.
pub const JITTER_FRACTION: f64 = 0.2;

/// A uniform jitter sample in `[-1, 1]`, the input that [`next_delivery_delay`] and [`Backoff`]
/// scale to ±[`JITTER_FRACTION`]; production callers use this, tests pass fixed samples.
pub fn jitter_sample() -> f64 {
    fastrand::f64() * 2.0 - 1.0
}

/// Scales `delay` by `1 + JITTER_FRACTION * sample`, treating samples outside `[-1, 1]` (or
/// NaN) as the nearest bound (or zero) so a bad sample can never produce a wild delay.
pub(super) fn jittered(delay: Duration, sample: f64) -> Duration {
    let sample = if sample.is_nan() {
        0.0
    } else {
        sample.clamp(-1.0, 1.0)
    };
    delay.mul_f64(1.0 + JITTER_FRACTION * sample)
}

/// The delay before the next delivery attempt of a notification, or `None` when its retry
/// schedule is exhausted and the caller must dead-letter it.
///
/// `failed_attempts` counts the attempts that have failed so far: after the first failure the
/// delay is `schedule[0]`, after the N-th `schedule[N-1]`, each scaled by `jitter` (a sample in
/// `[-1, 1]`, see [`jitter_sample`]) to ±20 %. With no failure yet the answer is zero: the first
/// attempt is never delayed.
///
/// A destination's `Retry-After` is honoured, but only up to the *next* scheduled step:
/// `delay = max(jittered step, min(retry_after, schedule[N]))`, where a missing `schedule[N]`
/// (the last step) caps it at the jittered step itself. So a receiver can slow us down, yet
/// cannot stretch the total time before dead-lettering past the configured schedule, nor make
/// us retry sooner than the schedule says.
pub fn next_delivery_delay(
    schedule: &[Duration],
    failed_attempts: usize,
    retry_after: Option<Duration>,
    jitter: f64,
) -> Option<Duration> {
    if failed_attempts == 0 {
        return Some(Duration::ZERO);
    }
    let step = jittered(*schedule.get(failed_attempts - 1)?, jitter);
    let cap = schedule.get(failed_attempts).copied().unwrap_or(step);
    Some(match retry_after {
        Some(asked) => step.max(asked.min(cap)),
        None => step,
    })
}

/// The longest wait between two probes of a failing destination, whatever its schedule says:
/// a receiver that is back should not wait hours to be noticed.
pub const PROBE_DELAY_AT_MOST: Duration = Duration::from_secs(300);

/// The delay before the next probe of a failing destination after `failed_probes` failed:
/// the retry schedule's step of that number (its last step once past the end), jittered,
/// `Retry-After` honoured as for a retry, and never more than [`PROBE_DELAY_AT_MOST`].
/// Probes never exhaust anything: a destination that is down dead-letters nothing.
pub fn probe_delay(
    schedule: &[Duration],
    failed_probes: usize,
    retry_after: Option<Duration>,
    jitter: f64,
) -> Duration {
    let step = failed_probes.clamp(1, schedule.len().max(1));
    next_delivery_delay(schedule, step, retry_after, jitter)
        .unwrap_or(PROBE_DELAY_AT_MOST)
        .min(PROBE_DELAY_AT_MOST)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn schedule() -> Vec<Duration> {
        vec![secs(10), secs(60), secs(300)]
    }

    #[test]
    fn first_attempt_is_never_delayed() {
        assert_eq!(
            next_delivery_delay(&schedule(), 0, None, 1.0),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn delay_follows_the_schedule_after_each_failure() {
        let s = schedule();
        assert_eq!(next_delivery_delay(&s, 1, None, 0.0), Some(secs(10)));
        assert_eq!(next_delivery_delay(&s, 2, None, 0.0), Some(secs(60)));
        assert_eq!(next_delivery_delay(&s, 3, None, 0.0), Some(secs(300)));
    }

    #[test]
    fn jitter_stays_within_twenty_percent_and_clamps_bad_samples() {
        let s = schedule();
        assert_eq!(next_delivery_delay(&s, 1, None, -1.0), Some(secs(8)));
        assert_eq!(next_delivery_delay(&s, 1, None, 1.0), Some(secs(12)));
        assert_eq!(next_delivery_delay(&s, 1, None, 7.0), Some(secs(12)));
        assert_eq!(next_delivery_delay(&s, 1, None, -7.0), Some(secs(8)));
        assert_eq!(next_delivery_delay(&s, 1, None, f64::NAN), Some(secs(10)));
        for _ in 0..1000 {
            let delay = next_delivery_delay(&s, 2, None, jitter_sample()).unwrap();
            assert!(delay >= secs(48) && delay <= secs(72), "{delay:?}");
        }
    }

    #[test]
    fn exhausted_schedule_means_dead_letter() {
        assert_eq!(next_delivery_delay(&schedule(), 4, None, 0.0), None);
        assert_eq!(next_delivery_delay(&[], 1, None, 0.0), None);
    }

    #[test]
    fn retry_after_lengthens_the_delay_up_to_the_next_step_only() {
        let s = schedule();
        // Between the step and the next step: honoured as asked.
        assert_eq!(
            next_delivery_delay(&s, 1, Some(secs(30)), 0.0),
            Some(secs(30))
        );
        // Beyond the next step: capped at the next step.
        assert_eq!(
            next_delivery_delay(&s, 1, Some(secs(3600)), 0.0),
            Some(secs(60))
        );
        // Shorter than the step: the schedule wins, we never retry sooner.
        assert_eq!(
            next_delivery_delay(&s, 2, Some(secs(1)), 0.0),
            Some(secs(60))
        );
    }

    #[test]
    fn retry_after_on_the_last_step_cannot_extend_it() {
        assert_eq!(
            next_delivery_delay(&schedule(), 3, Some(secs(3600)), 0.0),
            Some(secs(300))
        );
        assert_eq!(
            next_delivery_delay(&schedule(), 3, Some(secs(3600)), 1.0),
            Some(secs(360))
        );
    }

    #[test]
    fn probes_follow_the_schedule_stay_at_its_last_step_and_never_exceed_the_cap() {
        let s = schedule();
        assert_eq!(probe_delay(&s, 1, None, 0.0), secs(10));
        assert_eq!(probe_delay(&s, 2, None, 0.0), secs(60));
        assert_eq!(probe_delay(&s, 3, None, 0.0), secs(300));
        assert_eq!(probe_delay(&s, 50, None, 0.0), secs(300), "never exhausted");
        assert_eq!(probe_delay(&s, 3, None, 1.0), PROBE_DELAY_AT_MOST);
        assert_eq!(
            probe_delay(&[secs(7200)], 1, None, 0.0),
            PROBE_DELAY_AT_MOST
        );
        assert_eq!(probe_delay(&s, 1, Some(secs(30)), 0.0), secs(30));
    }
}
