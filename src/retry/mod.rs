//! When to try again: the delivery retry schedule, the EHR backoff, `Retry-After` and status
//! classification, as pure functions so every rule is unit-tested without a clock or a network.
//!
//! Two policies live here because the two sides fail differently. A destination gets an
//! explicit, finite schedule per notification (then the notification is dead-lettered, so an
//! operator sees it). An EHR is polled forever, so its failures only stretch the poll interval
//! with an exponential [`Backoff`] that success resets.

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};

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
fn jittered(delay: Duration, sample: f64) -> Duration {
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

/// Reads a `Retry-After` header value (RFC 9110 §10.2.3): either delay-seconds or an HTTP-date,
/// relative to `now`. A date in the past means "retry now" (zero); anything unreadable is `None`
/// so the caller falls back to its own schedule rather than guessing.
///
/// All three HTTP-date forms are accepted, as the RFC requires of recipients: IMF-fixdate
/// (`Sun, 06 Nov 1994 08:49:37 GMT`), the obsolete RFC 850 form
/// (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime (`Sun Nov  6 08:49:37 1994`).
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse().ok().map(Duration::from_secs);
    }
    let at = parse_http_date(value)?;
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// Parses any of the three HTTP-date forms into UTC.
fn parse_http_date(value: &str) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc2822(value) {
        return Some(at.with_timezone(&Utc));
    }
    ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(value, format).ok())
        .map(|naive| naive.and_utc())
}

/// Whether a destination accepted a notification. Only 2xx counts: a 3xx is a failure because
/// the sender does not follow redirects (following one would send signed patient-related data
/// to a place the operator never configured).
pub fn is_success(status: u16) -> bool {
    (200..=299).contains(&status)
}

/// Whether an EHR error status is worth retrying with backoff, or needs an operator instead.
///
/// Retried: 408 Request Timeout, 425 Too Early, 429 Too Many Requests (with `Retry-After`), and
/// 5xx server errors, which are usually overload or maintenance windows. Not retried: every
/// other 4xx (bad credentials, a wrong path or query: polling again cannot fix them), and the
/// two 5xx that state a permanent mismatch rather than a passing fault: 501 Not Implemented
/// and 505 HTTP Version Not Supported.
pub fn is_retriable_ehr_status(status: u16) -> bool {
    match status {
        408 | 425 | 429 => true,
        501 | 505 => false,
        500..=599 => true,
        _ => false,
    }
}

/// Whether a destination's failed answer `status` proves it up and judging this
/// notification: a 4xx other than the passing ones (408, 425, 429). A 5xx, a timeout or a
/// refused connection says nothing about the notification, only that the destination is not
/// taking anything right now, so it can never be the sole ground for a dead letter.
pub fn refuses_content(status: Option<u16>) -> bool {
    matches!(status, Some(s) if (400..=499).contains(&s) && !is_retriable_ehr_status(s))
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

    fn now() -> DateTime<Utc> {
        "1994-11-06T08:49:00Z".parse().unwrap()
    }

    #[test]
    fn retry_after_reads_delay_seconds() {
        assert_eq!(parse_retry_after("120", now()), Some(secs(120)));
        assert_eq!(parse_retry_after(" 0 ", now()), Some(secs(0)));
        assert_eq!(parse_retry_after("-5", now()), None);
        assert_eq!(parse_retry_after("1.5", now()), None);
        assert_eq!(parse_retry_after("", now()), None);
        assert_eq!(parse_retry_after("soon", now()), None);
    }

    #[test]
    fn retry_after_reads_every_http_date_form() {
        for value in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(parse_retry_after(value, now()), Some(secs(37)), "{value}");
        }
    }

    #[test]
    fn retry_after_date_in_the_past_means_now() {
        assert_eq!(
            parse_retry_after("Sat, 05 Nov 1994 08:49:37 GMT", now()),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn only_2xx_is_success_and_redirects_are_failures() {
        assert!(is_success(200) && is_success(204) && is_success(299));
        assert!(!is_success(199) && !is_success(301) && !is_success(304));
        assert!(!is_success(400) && !is_success(500));
    }

    #[test]
    fn ehr_retries_timeouts_throttling_and_server_errors_only() {
        for status in [408, 425, 429, 500, 502, 503, 504, 599] {
            assert!(is_retriable_ehr_status(status), "{status}");
        }
        for status in [200, 301, 400, 401, 403, 404, 410, 422, 501, 505] {
            assert!(!is_retriable_ehr_status(status), "{status}");
        }
    }

    #[test]
    fn only_a_lasting_4xx_says_the_destination_refused_the_content() {
        for status in [400, 401, 403, 404, 413, 422] {
            assert!(refuses_content(Some(status)), "{status}");
        }
        for status in [
            None,
            Some(302),
            Some(408),
            Some(425),
            Some(429),
            Some(500),
            Some(503),
        ] {
            assert!(!refuses_content(status), "{status:?}");
        }
    }
}
