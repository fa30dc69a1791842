//! The timer of one EHR request: each phase (response headers, body) has its own limit and the
//! whole request the sum of both, kept with a single `Sleep` that is moved from phase to phase
//! instead of a timer per phase nested in a timer for the whole. That is one timer
//! registration per request instead of three, and one timer polled at each wake-up instead
//! of two.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use futures_util::future::{select, Either};
use tokio::time::{Instant, Sleep};

use crate::ehr::TimeoutPhase;

/// Which limit a request ran into, and how long that limit is.
pub(super) type Expired = (TimeoutPhase, Duration);

/// One request's timer; see the module doc.
pub(super) struct RequestClock<'a> {
    /// Set to the end of the current phase, never later than `overall_end`.
    sleep: Pin<&'a mut Sleep>,
    /// The whole request's limit, `request_timeout + body_timeout`.
    overall: Duration,
    /// When the whole request's limit runs out: `sleep`'s deadline when the clock started.
    overall_end: Instant,
}

impl<'a> RequestClock<'a> {
    /// A clock for a request whose overall limit `overall` ends at `sleep`'s deadline (a
    /// sleep of `overall` made as the request starts).
    pub fn new(sleep: Pin<&'a mut Sleep>, overall: Duration) -> Self {
        let overall_end = sleep.deadline();
        Self {
            sleep,
            overall,
            overall_end,
        }
    }

    /// Runs `work` within the overall limit only.
    pub async fn within_overall<F: Future>(&mut self, work: F) -> Result<F::Output, Expired> {
        let limit = (TimeoutPhase::Overall, self.overall);
        self.run_until(self.overall_end, limit, work).await
    }

    /// Runs `work` within `phase`'s own limit `after`, counted from now, and the overall
    /// limit; an expiry names whichever of the two ends first.
    pub async fn within<F: Future>(
        &mut self,
        phase: TimeoutPhase,
        after: Duration,
        work: F,
    ) -> Result<F::Output, Expired> {
        let own_end = Instant::now() + after;
        if own_end < self.overall_end {
            self.run_until(own_end, (phase, after), work).await
        } else {
            self.within_overall(work).await
        }
    }

    async fn run_until<F: Future>(
        &mut self,
        end: Instant,
        limit: Expired,
        work: F,
    ) -> Result<F::Output, Expired> {
        self.sleep.as_mut().reset(end);
        let work = std::pin::pin!(work);
        match select(work, self.sleep.as_mut()).await {
            Either::Left((output, _)) => Ok(output),
            Either::Right(((), _)) => Err(limit),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[actix_rt::test]
    async fn a_phase_ends_at_its_own_limit_or_at_the_overall_one_whichever_is_first() {
        let sleep = std::pin::pin!(tokio::time::sleep(ms(300)));
        let mut clock = RequestClock::new(sleep, ms(300));
        let quick = clock
            .within(TimeoutPhase::Headers, ms(200), async { 7 })
            .await;
        assert_eq!(quick, Ok(7));
        let stalled = std::future::pending::<()>();
        let headers = clock.within(TimeoutPhase::Headers, ms(50), stalled).await;
        assert_eq!(headers, Err((TimeoutPhase::Headers, ms(50))));
        // 50 ms of the 300 are gone: a 290 ms body limit would end after the overall one.
        let body = clock.within(TimeoutPhase::Body, ms(290), std::future::pending::<()>());
        let started = Instant::now();
        assert_eq!(body.await, Err((TimeoutPhase::Overall, ms(300))));
        assert!(started.elapsed() < ms(280), "ended with the overall limit");
        let late = clock.within_overall(async { 1 }).await;
        assert_eq!(late, Ok(1), "ready work wins over an expired clock");
    }
}
