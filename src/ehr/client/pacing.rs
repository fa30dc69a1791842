//! Pacing the requests of one connection, polls and enrichment together: at most
//! `max_concurrent_requests` in flight, at most `max_requests_per_sec`, and none at all while
//! the EHR asked for a pause (429 or 503 with `Retry-After`).
//!
//! The EHR's limits apply to the client, not to one request: a 429 on an enrichment request
//! means the next poll would be refused too, so the pause is kept here, in the one client of
//! the connection, where every request waits for it.

use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, SemaphorePermit};

use crate::config::ConnectionConfig;

/// The gate every request of a connection passes before it is sent.
pub(super) struct Pacing {
    /// `max_concurrent_requests`; a permit is held until the response is read.
    permits: Option<Semaphore>,
    /// `max_requests_per_sec`.
    bucket: Option<RefCell<TokenBucket>>,
    /// No request is sent before this instant; only ever moved later.
    not_before: Cell<Option<Instant>>,
    /// Counts the pauses begun: a request whose reserved slot was voided by one (it started
    /// while the request waited) reserves a new one after the pause.
    pauses: Cell<u64>,
    /// The longest pause honoured (`backoff_max`): a hostile `Retry-After` cannot stall the
    /// connection for days.
    pause_cap: Duration,
}

impl Pacing {
    /// The pacing `config` asks for. The bucket holds one token: requests are spaced evenly
    /// at 1/rate, so no one-second window ever sees more than the rate (plus the one at its
    /// edge), which is what an EHR's published limit is checked against.
    pub fn new(config: &ConnectionConfig) -> Self {
        Self {
            permits: config.max_concurrent_requests.map(Semaphore::new),
            bucket: config
                .max_requests_per_sec
                .map(|rate| RefCell::new(TokenBucket::new(rate, 1.0, Instant::now()))),
            not_before: Cell::new(None),
            pauses: Cell::new(0),
            pause_cap: config.backoff_max,
        }
    }

    /// Waits until one more request may be sent; the permit it returns (when concurrency is
    /// limited) must be held until the response has been read.
    pub async fn admit(&self) -> Option<SemaphorePermit<'_>> {
        let permit = match &self.permits {
            Some(permits) => Some(
                permits
                    .acquire()
                    .await
                    .expect("the semaphore is never closed"),
            ),
            None => None,
        };
        self.wait_out_pause().await;
        let Some(bucket) = &self.bucket else {
            return permit;
        };
        loop {
            let pauses = self.pauses.get();
            let wait = bucket.borrow_mut().take(Instant::now());
            if wait.is_zero() {
                return permit;
            }
            actix_rt::time::sleep(wait).await;
            if self.pauses.get() == pauses {
                return permit;
            }
            // A pause began while this request waited for its slot: every slot reserved
            // before it is void, and the requests take new ones, one by one, after it.
            self.wait_out_pause().await;
        }
    }

    /// Pauses every request of the connection for `retry_after` (at most the cap), counted
    /// from now; a pause already longer is kept.
    pub fn pause_for(&self, retry_after: Duration) {
        let until = Instant::now() + retry_after.min(self.pause_cap);
        if self.not_before.get().is_none_or(|current| current < until) {
            self.not_before.set(Some(until));
            self.pauses.set(self.pauses.get() + 1);
            if let Some(bucket) = &self.bucket {
                bucket.borrow_mut().restart_at(until);
            }
        }
    }

    /// The end of the current pause, if one is under way.
    pub fn paused_until(&self) -> Option<Instant> {
        self.not_before
            .get()
            .filter(|until| *until > Instant::now())
    }

    async fn wait_out_pause(&self) {
        // A loop, because the pause may be extended while we sleep.
        while let Some(until) = self.paused_until() {
            actix_rt::time::sleep_until(until.into()).await;
        }
    }
}

/// A token bucket: `rate` tokens a second, at most `capacity` saved up. Pure: the caller
/// passes the time, so tests drive the clock.
#[derive(Debug, Clone)]
pub(super) struct TokenBucket {
    /// Tokens added per second; positive and finite.
    rate: f64,
    /// Most tokens saved up, the largest burst; at least 1.
    capacity: f64,
    /// Tokens available at `updated`; negative when tokens are owed to waiting callers.
    tokens: f64,
    /// When `tokens` was last brought up to date; never moves backwards.
    updated: Instant,
}

impl TokenBucket {
    /// A full bucket at `now`.
    pub fn new(rate: f64, capacity: f64, now: Instant) -> Self {
        debug_assert!(rate.is_finite() && rate > 0.0 && capacity >= 1.0);
        Self {
            rate,
            capacity,
            tokens: capacity,
            updated: now,
        }
    }

    /// Forgets every reservation and holds one token at `at`, the end of a pause: the rate
    /// counts from there, so the slots that fell inside the pause are not released at once.
    pub fn restart_at(&mut self, at: Instant) {
        self.tokens = 1.0_f64.min(self.capacity);
        self.updated = at;
    }

    /// Takes a token at `now` and returns how long to wait before using it: zero when one was
    /// saved up. Otherwise the token is reserved at once, so callers are served in the order
    /// they asked, each 1/rate after the previous one.
    pub fn take(&mut self, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        self.updated = self.updated.max(now);
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Waits of `takes` calls made at `start + offset`, in milliseconds (rounded).
    fn waits(bucket: &mut TokenBucket, start: Instant, offsets_ms: &[u64]) -> Vec<u128> {
        offsets_ms
            .iter()
            .map(|offset| {
                let wait = bucket.take(start + ms(*offset));
                (wait.as_secs_f64() * 1000.0).round() as u128
            })
            .collect()
    }

    #[test]
    fn a_one_token_bucket_spaces_requests_evenly_and_queues_waiters_in_order() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10.0, 1.0, start);
        // Four requests at once: the first goes, the others are due 100, 200, 300 ms later.
        assert_eq!(waits(&mut bucket, start, &[0, 0, 0, 0]), [0, 100, 200, 300]);
    }

    #[test]
    fn tokens_come_back_at_the_rate_and_are_saved_up_to_the_capacity_only() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(2.0, 3.0, start);
        // A full bucket allows a burst of 3, then one every 500 ms.
        assert_eq!(waits(&mut bucket, start, &[0, 0, 0, 0]), [0, 0, 0, 500]);
        // After an idle minute, only 3 are saved up, not 120.
        assert_eq!(
            waits(&mut bucket, start, &[60_000, 60_000, 60_000, 60_000]),
            [0, 0, 0, 500]
        );
    }

    #[test]
    fn a_request_after_the_spacing_waits_only_for_what_is_left() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(4.0, 1.0, start);
        assert_eq!(
            waits(&mut bucket, start, &[0, 100, 250, 600]),
            [0, 150, 250, 150]
        );
    }

    #[test]
    fn fractional_rates_wait_seconds_and_a_clock_going_backwards_is_harmless() {
        let start = Instant::now() + Duration::from_secs(10);
        let mut bucket = TokenBucket::new(0.5, 1.0, start);
        assert_eq!(waits(&mut bucket, start, &[0, 0]), [0, 2000]);
        // A caller whose `now` is older than the bucket's does not get tokens back.
        let earlier = bucket.take(start - Duration::from_secs(5));
        assert_eq!(earlier, Duration::from_secs(4));
    }

    #[test]
    fn a_restart_at_the_end_of_a_pause_spaces_requests_from_there() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(5.0, 1.0, start);
        // Fifteen queued: the last one's slot is 2.8 s away.
        let queued = waits(&mut bucket, start, &[0; 15]);
        assert_eq!(queued[14], 2800);
        bucket.restart_at(start + ms(3000));
        // Taken again when it ends (requests wait a pause out first): 200 ms apart from there.
        assert_eq!(
            waits(&mut bucket, start, &[3000, 3000, 3000]),
            [0, 200, 400]
        );
    }
}
