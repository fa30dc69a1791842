//! What an operator can do to one running connection: poll now, pause, resume, and (for a
//! configuration reload) retire it for good.

use actix::prelude::*;

use super::ConnectionActor;
use crate::actors::control::{Command, ConnectionCommand, ControlError, Retire};
use crate::dispatch::Step;
use crate::status::ConnectionState;

impl ConnectionActor {
    /// Shows the pause on the board (at once, even while a poll finishes: the board must not
    /// say anything else once the pause is answered).
    pub(super) fn show_paused(&self) {
        self.deps
            .board
            .connection(self.id(), |c| c.state = ConnectionState::Paused);
    }

    /// Cancels the armed timer, answering the step it would have run.
    pub(super) fn cancel_timer(&mut self, ctx: &mut Context<Self>) -> Option<Step> {
        let (handle, step) = self.timer.take()?;
        ctx.cancel_future(handle);
        Some(step)
    }

    fn poll_now(&mut self, ctx: &mut Context<Self>) -> Result<&'static str, ControlError> {
        if self.stopped {
            return Err(ControlError::Stopped(self.id().to_owned()));
        }
        if self.paused {
            return Err(ControlError::Paused(self.id().to_owned()));
        }
        if self.busy || self.failing {
            return Ok("a poll is already under way");
        }
        // The armed step runs now: a pending recovery stays a recovery, which then polls.
        let step = self.cancel_timer(ctx).unwrap_or(Step::Poll);
        log::info!("conn={} poll requested by an operator", self.id());
        self.run(step, ctx);
        Ok("polling")
    }

    fn pause(&mut self, ctx: &mut Context<Self>) -> &'static str {
        if self.paused {
            return "already paused";
        }
        self.paused = true;
        log::info!(
            "conn={} paused by an operator; stored changes are still delivered",
            self.id()
        );
        // A pending recovery still runs: it delivers what is stored.
        if let Some(step) = self.cancel_timer(ctx) {
            if step == Step::Walk {
                self.schedule(step, std::time::Duration::ZERO, ctx);
            }
        }
        self.show_paused();
        "paused"
    }

    fn resume(&mut self, ctx: &mut Context<Self>) -> &'static str {
        if !self.paused {
            return "not paused";
        }
        self.paused = false;
        log::info!("conn={} resumed by an operator", self.id());
        if !self.busy && self.timer.is_none() {
            self.deps
                .board
                .connection(self.id(), |c| c.state = ConnectionState::Idle);
            self.run(Step::Poll, ctx);
        }
        "resumed"
    }
}

impl Handler<Command> for ConnectionActor {
    type Result = Result<&'static str, ControlError>;

    fn handle(&mut self, msg: Command, ctx: &mut Context<Self>) -> Self::Result {
        match msg.0 {
            ConnectionCommand::PollNow => self.poll_now(ctx),
            ConnectionCommand::Pause => Ok(self.pause(ctx)),
            ConnectionCommand::Resume => Ok(self.resume(ctx)),
        }
    }
}

impl Handler<Retire> for ConnectionActor {
    type Result = ();

    /// Stops for good (removed or replaced at a reload, or its lease gone): its timer and in-flight poll are
    /// cancelled (a poll's page is committed whole or not at all), its enricher stops, and it
    /// leaves the board when
    /// removed. Containers it stored stay in the store for whoever takes over.
    fn handle(&mut self, msg: Retire, ctx: &mut Context<Self>) {
        self.stopped = true;
        self.cancel_timer(ctx);
        self.stop_enricher();
        if msg.forget {
            self.deps.board.forget_connection(self.id());
        }
        log::info!("conn={} stopped {}", self.id(), msg.reason);
        ctx.stop();
    }
}
