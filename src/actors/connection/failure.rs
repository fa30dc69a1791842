//! A connection's failure handling: backing off after a failed step, restarting after a
//! panic, and what it needs to know about any failure (a poll's error, or a page stuck at one
//! position).

use std::time::{Duration, Instant};

use actix::prelude::*;

use super::{ConnectionActor, RESTART_BACKOFF_RESET};
use crate::cluster::keeper::LeaseLost;
use crate::dispatch::Step;
use crate::escape::escaped;
use crate::pipeline::PollError;
use crate::status::journal::PollOutcome;
use crate::status::ConnectionState;

impl ConnectionActor {
    pub(super) fn after_failure(
        &mut self,
        step: Step,
        err: &dyn FailureInfo,
        ctx: &mut Context<Self>,
    ) {
        let delay = self.backoff.fail(err.retry_after());
        let until = self.deps.claims.gate().clock().now()
            + chrono::Duration::from_std(delay).unwrap_or_default();
        // A paused connection shows as paused, not as waiting for a poll it will not make.
        let paused = self.paused && matches!(step, Step::Poll);
        let kind = err.kind();
        let error = err.to_string();
        if step == Step::Poll {
            self.journal_poll(PollOutcome::Failed, 0, Some(error.clone()));
        }
        let first = self.deps.board.connection(self.id(), |c| {
            if !paused {
                c.state = ConnectionState::BackingOff { until };
            }
            c.last_error = Some(error);
            c.consecutive_failures += 1;
            c.polls_failed += 1;
            *c.poll_failures.entry(kind.to_owned()).or_default() += 1;
            c.consecutive_failures == 1
        });
        let id = self.id();
        match (first, err.needs_operator()) {
            (true, true) => log::error!("conn={id} {step} failed ({kind}): {}; this needs an operator; retrying with backoff", escaped(err)),
            (true, false) => log::warn!("conn={id} {step} failed ({kind}): {}; backing off", escaped(err)),
            (false, _) => log::debug!("conn={id} {step} failed again ({kind}); next in {delay:?}"),
        }
        self.schedule(step, delay, ctx);
    }

    /// A panic in this connection's work: record it, then stop after a backoff so the
    /// supervisor restarts this connection (and only it) with fresh state.
    pub(super) fn fail_hard(&mut self, reason: &str, ctx: &mut Context<Self>) {
        if self.failing || self.stopped {
            return;
        }
        self.failing = true;
        self.deps.claims.end_generation();
        if self
            .last_restart
            .is_some_and(|at| at.elapsed() > RESTART_BACKOFF_RESET)
        {
            self.restart_backoff.reset();
        }
        self.last_restart = Some(Instant::now());
        let delay = self.restart_backoff.fail(None);
        log::error!(
            "conn={} failed: {}; restarting the connection in {delay:?}",
            self.id(),
            escaped(reason)
        );
        self.deps.board.connection(self.id(), |c| {
            c.state = ConnectionState::Restarting;
            c.last_error = Some(format!("panic: {reason}"));
            c.restarts += 1;
        });
        self.stop_enricher();
        ctx.run_later(delay, |_, ctx| ctx.stop());
    }
}

impl ConnectionActor {
    /// A write was refused by the connection's fence: another instance holds its lease now.
    /// Stops polling for good (no restart: the lease will not come back by retrying) and
    /// tells the keeper, which stops the connection here.
    pub(super) fn lost_lease(&mut self, ctx: &mut Context<Self>) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        self.cancel_timer(ctx);
        self.deps.claims.end_generation();
        self.stop_enricher();
        self.deps.board.connection(self.id(), |c| {
            c.state = ConnectionState::Stopped;
            c.last_error = Some("lost its lease to another instance".to_owned());
        });
        log::warn!(
            "conn={} lost its lease to another instance; stopped here",
            self.id()
        );
        if let Some(keeper) = &self.deps.lease_lost {
            keeper.do_send(LeaseLost {
                connection: self.id().to_owned(),
            });
        }
    }
}

/// What failure handling needs to know about any failure.
pub(super) trait FailureInfo: std::fmt::Display {
    fn retry_after(&self) -> Option<Duration>;
    fn kind(&self) -> &'static str;
    fn needs_operator(&self) -> bool;
}

impl FailureInfo for PollError {
    fn retry_after(&self) -> Option<Duration> {
        PollError::retry_after(self)
    }
    fn kind(&self) -> &'static str {
        PollError::kind(self)
    }
    fn needs_operator(&self) -> bool {
        PollError::needs_operator(self)
    }
}

/// More items at one position than the widest page allowed.
pub(super) struct StuckPage(pub(super) String);

impl std::fmt::Display for StuckPage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl FailureInfo for StuckPage {
    fn retry_after(&self) -> Option<Duration> {
        None
    }
    fn kind(&self) -> &'static str {
        "stuck_page"
    }
    fn needs_operator(&self) -> bool {
        true
    }
}
