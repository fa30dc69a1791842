//! The running service: built from a validated configuration and an open store, observed
//! through its status board, stopped gracefully.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use chrono::Utc;

use crate::actors::connection::PollHook;
use crate::actors::supervisor::{Shutdown, Supervisor};
use crate::config::Config;
use crate::delivery::gate::DestinationGate;
use crate::status::{StatusBoard, StatusSnapshot};
use crate::store::Store;

/// Options that are not part of the configuration file.
#[derive(Default, Clone)]
pub struct AppOptions {
    /// Called at the start of every poll with the connection id; tests inject faults here.
    pub poll_hook: Option<PollHook>,
}

/// A started Courier: every connection polling, every destination delivering.
pub struct App {
    supervisor: Addr<Supervisor>,
    board: StatusBoard,
    store: Store,
    /// Each destination's health, by id.
    gates: BTreeMap<String, Arc<DestinationGate>>,
    /// Each destination's connections, for its backlog.
    feeds: BTreeMap<String, Vec<String>>,
}

/// An operator named a destination the configuration does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown destination \"{0}\"")]
pub struct UnknownDestination(pub String);

impl App {
    /// Starts the actor tree. Must be called inside a running actix `System`.
    pub fn start(config: Config, store: Store, options: AppOptions) -> Self {
        let board = StatusBoard::default();
        // Every connection and destination shows in status from the first moment.
        for (id, connection) in &config.connections {
            board.connection(id, |_| ());
            board.destination(&connection.destination, |_| ());
        }
        let gates: BTreeMap<_, _> = config
            .destinations
            .iter()
            .map(|(id, d)| {
                let gate = DestinationGate::new(id, d.failure_threshold, board.clone());
                (id.clone(), Arc::new(gate))
            })
            .collect();
        let mut feeds: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (id, connection) in &config.connections {
            feeds
                .entry(connection.destination.clone())
                .or_default()
                .push(id.clone());
        }
        let supervisor = Supervisor::new(
            config,
            store.clone(),
            board.clone(),
            gates.clone(),
            options.poll_hook,
        )
        .start();
        Self {
            supervisor,
            board,
            store,
            gates,
            feeds,
        }
    }

    /// What every connection and destination is doing now, with each destination's backlog
    /// read from the store.
    pub fn status(&self) -> StatusSnapshot {
        let mut snapshot = self.board.snapshot();
        let now = Utc::now();
        for (id, destination) in &mut snapshot.destinations {
            let (mut backlog, mut oldest) = (0, None::<chrono::DateTime<Utc>>);
            for connection in self.feeds.get(id).into_iter().flatten() {
                match self.store.backlog(connection) {
                    Ok((count, first)) => {
                        backlog += count;
                        oldest = match (oldest, first) {
                            (Some(a), Some(b)) => Some(a.min(b)),
                            (a, b) => a.or(b),
                        };
                    }
                    Err(err) => log::warn!("conn={connection} backlog unreadable: {err}"),
                }
            }
            destination.backlog = backlog;
            destination.oldest_pending_age_secs =
                oldest.map(|at| (now - at).num_milliseconds().max(0) as f64 / 1000.0);
        }
        snapshot
    }

    /// Pauses destination `id`: nothing more is sent to it (what is on the wire finishes),
    /// its connections keep polling and storing, until [`App::resume_destination`].
    pub fn pause_destination(&self, id: &str) -> Result<(), UnknownDestination> {
        self.gate(id)?.pause();
        Ok(())
    }

    /// Resumes destination `id`, paused by an operator or by a `410 Gone`: its stored backlog
    /// is dispatched in sequence order. Resuming a destination that is not paused does nothing.
    pub fn resume_destination(&self, id: &str) -> Result<(), UnknownDestination> {
        self.gate(id)?.resume();
        Ok(())
    }

    fn gate(&self, id: &str) -> Result<&DestinationGate, UnknownDestination> {
        self.gates
            .get(id)
            .map(Arc::as_ref)
            .ok_or_else(|| UnknownDestination(id.to_owned()))
    }

    /// The store, for inspection (dead letters, pending counts).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Stops polling, waits up to `grace` for in-flight requests, stops and joins the worker
    /// threads, then flushes the store. Whatever is still pending is delivered after the next
    /// start.
    pub async fn shutdown(self, grace: Duration) {
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
        if let Err(err) = self.store.flush().await {
            log::error!("flushing the store at shutdown failed: {err}");
        }
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
