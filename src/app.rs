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
use crate::cluster::keeper::{HandBack, StopTaking};
use crate::cluster::keeping::{Hands, Keeping};
use crate::cluster::{Cluster, ClusterBoard, LeaseKeeper};
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
    /// In a cluster: the lease keeper (handed the leases back at a stop) and its board.
    cluster: Option<(Addr<LeaseKeeper>, ClusterBoard)>,
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
        Self::assemble(supervisor, board, store, gates, None)
    }

    /// Starts the actor tree as one instance of a cluster: no connection runs until the
    /// lease keeper (started here, beside the supervisor) takes its lease; status shows the
    /// connections this instance runs. Must be called inside a running actix `System`.
    pub fn start_clustered(
        config: Config,
        store: Store,
        options: AppOptions,
        cluster: Cluster,
    ) -> Self {
        let board = StatusBoard::default();
        for destination in config.destinations.keys() {
            board.destination(destination, |_| ());
        }
        let gates = Gates::new(&config, board.clone(), options.clock);
        let (lease, connections) = (config.cluster.lease, config.connections.keys().cloned());
        let connections = connections.collect();
        let cluster_board = cluster.board.clone();
        let mut keeper = None;
        let supervisor = Supervisor::create(|ctx| {
            let me = ctx.address();
            let hands = Hands {
                own: me.clone().recipient(),
                disown: me.clone().recipient(),
                redispatch: me.recipient(),
            };
            let Cluster {
                pg,
                membership,
                board: shown,
            } = cluster;
            let keeping = Keeping::new(pg, membership, shown, hands, lease, connections);
            let started = LeaseKeeper::new(keeping).start();
            keeper = Some(started.clone());
            Supervisor::new(config, store.clone(), board.clone(), gates.clone()).in_cluster(started)
        });
        let cluster = keeper.map(|keeper| (keeper, cluster_board));
        Self::assemble(supervisor, board, store, gates, cluster)
    }

    fn assemble(
        supervisor: Addr<Supervisor>,
        board: StatusBoard,
        store: Store,
        gates: Gates,
        cluster: Option<(Addr<LeaseKeeper>, ClusterBoard)>,
    ) -> Self {
        Self {
            operations: Operations::new(supervisor.clone(), store.clone(), gates.clone()),
            supervisor,
            board,
            store,
            gates,
            cluster,
        }
    }

    /// The cluster as this instance sees it, when it is one instance of a cluster.
    pub fn cluster(&self) -> Option<&ClusterBoard> {
        self.cluster.as_ref().map(|(_, board)| board)
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
    /// threads, then flushes the store (and, in a cluster, hands the leases back). Whatever is still pending is delivered after the next
    /// start. Answers the final flush's failure (a full disk), which `courier run` turns into
    /// a non-zero exit: what was written since the last flush may be lost to a crash.
    pub async fn shutdown(self, grace: Duration) -> Result<(), StoreError> {
        if let Some((keeper, _)) = &self.cluster {
            // Leases are kept (and renewed) until the connections stopped; none is taken.
            let _ = keeper.send(StopTaking).await;
        }
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
        if let Some((keeper, _)) = &self.cluster {
            // Everything this instance wrote is durable: the others may take over at once.
            let _ = keeper.send(HandBack).await;
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
