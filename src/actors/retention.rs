//! `RetentionSweeper`: removes delivered notifications once their destination no longer keeps
//! them (`retain_hours`), on a timer, off the actor thread (a sweep can delete many records).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::clock::Clock;
use actix::prelude::*;

use super::messages::StopPolling;
use crate::store::Store;

/// How long notifications of a destination that is no longer configured are kept: the
/// default `retain_hours`, in case the destination comes back.
const UNCONFIGURED_RETAIN: Duration = Duration::from_secs(72 * 3600);
/// Sweeps happen at least this often, so expired notifications never linger long...
const SWEEP_AT_MOST_EVERY: Duration = Duration::from_secs(60);
/// ...and at most this often, however short a retention is.
const SWEEP_AT_LEAST_EVERY: Duration = Duration::from_millis(100);

/// How often to sweep: a quarter of the shortest retention that keeps anything, within
/// bounds, so nothing outlives its retention by more than a quarter of it (or a minute).
pub fn sweep_interval(retains: impl IntoIterator<Item = Duration>) -> Duration {
    retains
        .into_iter()
        .filter(|r| !r.is_zero())
        .map(|r| r / 4)
        .min()
        .unwrap_or(SWEEP_AT_MOST_EVERY)
        .clamp(SWEEP_AT_LEAST_EVERY, SWEEP_AT_MOST_EVERY)
}

/// The actor; see the module doc.
pub struct RetentionSweeper {
    store: Store,
    /// `retain_hours` by destination id.
    retain: BTreeMap<String, Duration>,
    /// Set while a sweep runs, so a slow one is not overlapped by the next.
    sweeping: bool,
    /// What decides which notifications are past their retention.
    clock: Clock,
}

impl RetentionSweeper {
    /// A sweeper for destinations keeping notifications for `retain` (by id), by `clock`.
    pub fn new(store: Store, retain: BTreeMap<String, Duration>, clock: Clock) -> Self {
        Self {
            store,
            retain,
            sweeping: false,
            clock,
        }
    }

    fn sweep(&mut self, ctx: &mut Context<Self>) {
        if self.sweeping {
            return;
        }
        self.sweeping = true;
        let (store, retain) = (self.store.clone(), self.retain.clone());
        let now = self.clock.now();
        let cutoff = move |destination: &str| {
            let keep = retain.get(destination).copied();
            now - chrono::Duration::from_std(keep.unwrap_or(UNCONFIGURED_RETAIN))
                .unwrap_or(chrono::Duration::MAX)
        };
        // The store sweeps on a blocking thread: it lists and deletes files.
        let sweep = async move { store.sweep_retained(Box::new(cutoff)).await };
        ctx.spawn(sweep.into_actor(self).map(|outcome, act, _| {
            act.sweeping = false;
            match outcome {
                Ok(swept) if swept.segments > 0 => {
                    log::debug!(
                        "retention: removed {} expired segments ({} bytes)",
                        swept.segments,
                        swept.bytes
                    );
                }
                Ok(_) => {}
                Err(err) => log::warn!("retention sweep failed: {err}; retrying later"),
            }
        }));
    }
}

impl Actor for RetentionSweeper {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let every = sweep_interval(self.retain.values().copied());
        ctx.run_interval(every, |act, ctx| act.sweep(ctx));
    }
}

impl Handler<StopPolling> for RetentionSweeper {
    type Result = ();

    fn handle(&mut self, _: StopPolling, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweeps_a_quarter_of_the_shortest_retention_within_bounds() {
        let hours = |h: u64| Duration::from_secs(h * 3600);
        assert_eq!(sweep_interval([hours(72), hours(1)]), SWEEP_AT_MOST_EVERY);
        assert_eq!(
            sweep_interval([Duration::from_secs(2), hours(72)]),
            Duration::from_millis(500)
        );
        assert_eq!(
            sweep_interval([Duration::from_millis(10)]),
            SWEEP_AT_LEAST_EVERY
        );
        assert_eq!(
            sweep_interval([Duration::ZERO]),
            SWEEP_AT_MOST_EVERY,
            "keeps none"
        );
        assert_eq!(sweep_interval([]), SWEEP_AT_MOST_EVERY);
    }
}
