//! The running service: built from a validated configuration and an open store, observed
//! through its status board, operated on (dead letters, replay), stopped gracefully.

mod dead_letters;
mod operations;
mod replay;
#[cfg(test)]
pub(crate) mod rig;

pub use crate::delivery::gates::UnknownDestination;
pub use dead_letters::{PurgeOutcome, RetryOutcome};
pub use operations::Operations;
pub use replay::{ReplayError, ReplayRequest, ReplayStarted};

use std::time::Duration;

use actix::prelude::*;

use crate::actors::supervisor::{Shutdown, Supervisor};
use crate::clock::Clock;
use crate::config::Config;
use crate::delivery::gates::Gates;
use crate::status::{StatusBoard, StatusSnapshot};
use crate::store::{Store, StoreError};

/// Options that are not part of the configuration file: what a test controls and an operator
/// never sets (the test hook that was here is gone; faults come from the simulated EHR, and
/// panics from the crate's own unit tests).
#[derive(Default, Clone)]
pub struct AppOptions {
    /// Where the service reads the time; the system clock unless a test moves its own.
    pub clock: Clock,
}

/// A started Courier: every connection polling, every destination delivering.
pub struct App {
    supervisor: Addr<Supervisor>,
    board: StatusBoard,
    store: Store,
    /// Each destination's health and the connections feeding it, by destination id.
    gates: Gates,
    /// Dead-letter and replay actions.
    operations: Operations,
}

impl App {
    /// Starts the actor tree. Must be called inside a running actix `System`.
    pub fn start(config: Config, store: Store, options: AppOptions) -> Self {
        let board = StatusBoard::default();
        // Every connection and destination shows in status from the first moment.
        for (id, connection) in &config.connections {
            board.connection(id, |_| ());
            board.destination(&connection.destination, |_| ());
        }
        let gates = Gates::new(&config, board.clone(), options.clock);
        let supervisor =
            Supervisor::new(config, store.clone(), board.clone(), gates.clone()).start();
        Self {
            operations: Operations::new(supervisor.clone(), store.clone(), gates.clone()),
            supervisor,
            board,
            store,
            gates,
        }
    }

    /// What every connection and destination is doing now, with each destination's backlog
    /// read from the store.
    pub fn status(&self) -> StatusSnapshot {
        let mut snapshot = self.board.snapshot();
        self.gates.fill_backlogs(&mut snapshot, &self.store);
        snapshot
    }

    /// Pauses destination `id`: nothing more is sent to it (what is on the wire finishes),
    /// its connections keep polling and storing, until [`App::resume_destination`].
    pub fn pause_destination(&self, id: &str) -> Result<(), UnknownDestination> {
        self.gates.pause(id)
    }

    /// Resumes destination `id`, paused by an operator or by a `410 Gone`: its stored backlog
    /// is dispatched in sequence order. Resuming a destination that is not paused does nothing.
    pub fn resume_destination(&self, id: &str) -> Result<(), UnknownDestination> {
        self.gates.resume(id)
    }

    /// A handle to operate the running tree (poll now, pause, reload), for the admin API.
    pub fn control(&self) -> crate::actors::control::Control {
        crate::actors::control::Control::new(self.supervisor.clone(), self.gates.clone())
    }

    /// Dead-letter and replay actions, for the admin API.
    pub fn operations(&self) -> &Operations {
        &self.operations
    }

    /// The status board itself, for the admin API (status and metrics read it live).
    pub fn board(&self) -> &StatusBoard {
        &self.board
    }

    /// The store, for inspection (dead letters, pending counts).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Stops polling, waits up to `grace` for in-flight requests, stops and joins the worker
    /// threads, then flushes the store. Whatever is still pending is delivered after the next
    /// start. Answers the final flush's failure (a full disk), which `courier run` turns into
    /// a non-zero exit: what was written since the last flush may be lost to a crash.
    pub async fn shutdown(self, grace: Duration) -> Result<(), StoreError> {
        let workers = self
            .supervisor
            .send(Shutdown { grace })
            .await
            .unwrap_or_else(|_| {
                log::warn!("the supervisor was already gone at shutdown");
                Vec::new()
            });
        let joined = actix_rt::task::spawn_blocking(move || {
            for worker in workers {
                worker.stop();
                let _ = worker.join();
            }
        });
        if joined.await.is_err() {
            log::warn!("a worker thread did not stop cleanly");
        }
        let flushed = self.store.flush().await;
        if let Err(err) = &flushed {
            log::error!("flushing the store at shutdown failed: {err}");
        }
        flushed
    }
}

/// Waits for SIGINT or SIGTERM and names the one that came.
pub async fn stop_signal() -> &'static str {
    use actix_rt::signal::unix::{signal, SignalKind};
    use futures_util::future::{select, Either};
    let mut terminate = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    let interrupt = Box::pin(actix_rt::signal::ctrl_c());
    let terminated = Box::pin(terminate.recv());
    let which = match select(interrupt, terminated).await {
        Either::Left(_) => "SIGINT",
        Either::Right(_) => "SIGTERM",
    };
    which
}
