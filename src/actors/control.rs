//! Operating a running tree from outside (the admin API, SIGHUP): the messages, and
//! [`Control`], a cloneable handle whose methods send them to the supervisor.

use std::collections::BTreeMap;

use actix::prelude::*;
use serde::Serialize;

use super::supervisor::Supervisor;
use crate::config::Config;
use crate::delivery::gates::{Gates, UnknownDestination};
use crate::status::StatusSnapshot;
use crate::store::Store;

/// What an operator asks of one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionCommand {
    /// Poll at once instead of waiting for the timer.
    PollNow,
    /// Stop polling until resumed; what is stored is still delivered.
    Pause,
    /// Poll again after a pause.
    Resume,
}

/// A command for one connection actor; answered with what happened, in words.
#[derive(Message)]
#[rtype(result = "Result<&'static str, ControlError>")]
pub struct Command(pub ConnectionCommand);

/// A command for the connection `id`, routed by the supervisor.
#[derive(Message)]
#[rtype(result = "Result<&'static str, ControlError>")]
pub struct ToConnection {
    /// The connection id.
    pub id: String,
    /// What to do.
    pub command: ConnectionCommand,
}

/// Stop a connection for good (a reload removed or replaced it).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Retire {
    /// Removed (not replaced): it also leaves the status board.
    pub forget: bool,
    /// Why, for its log line: "by a configuration reload", or (in a cluster) that this
    /// instance no longer holds its lease.
    pub reason: &'static str,
}

/// Which connection actors are alive, by id.
#[derive(Message)]
#[rtype(result = "BTreeMap<String, bool>")]
pub struct Liveness;

/// Apply a new configuration (already validated); answered with what changed.
#[derive(Message)]
#[rtype(result = "Result<ReloadReport, ControlError>")]
pub struct Reload(pub Box<Config>);

/// What a reload did, by connection and destination id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReloadReport {
    /// Connections started.
    pub added: Vec<String>,
    /// Connections stopped.
    pub removed: Vec<String>,
    /// Connections stopped and started again with their new settings (or their
    /// destination's).
    pub restarted: Vec<String>,
    /// Connections left running as they were.
    pub unchanged: Vec<String>,
    /// Settings that only take effect at the next start (`[runtime]`, `[admin]`).
    pub ignored: Vec<String>,
}

/// Why a control request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// No connection has this id.
    #[error("no connection {0:?}")]
    UnknownConnection(String),
    /// The connection is paused; resume it first.
    #[error("connection {0:?} is paused; resume it first")]
    Paused(String),
    /// The connection stopped (shutdown).
    #[error("connection {0:?} has stopped")]
    Stopped(String),
    /// The new configuration cannot be applied to the running process.
    #[error("{0}")]
    Refused(String),
    /// The actor tree is gone (shutting down).
    #[error("Courier is shutting down")]
    ShuttingDown,
}

/// A cloneable handle on the running tree, for the admin API and the signal handlers.
#[derive(Clone)]
pub struct Control {
    supervisor: Addr<Supervisor>,
    gates: Gates,
}

impl Control {
    /// A handle on `supervisor`'s tree, whose destinations' health is in `gates`.
    pub fn new(supervisor: Addr<Supervisor>, gates: Gates) -> Self {
        Self { supervisor, gates }
    }

    /// Pauses destination `id` (see [`Gates::pause`]).
    pub fn pause_destination(&self, id: &str) -> Result<(), UnknownDestination> {
        self.gates.pause(id)
    }

    /// Resumes destination `id` (see [`Gates::resume`]).
    pub fn resume_destination(&self, id: &str) -> Result<(), UnknownDestination> {
        self.gates.resume(id)
    }

    /// Fills in each destination's backlog in `snapshot` and answers each connection's (see
    /// [`Gates::fill_backlogs`]).
    pub fn fill_backlogs(
        &self,
        snapshot: &mut StatusSnapshot,
        store: &Store,
    ) -> std::collections::BTreeMap<String, u64> {
        self.gates.fill_backlogs(snapshot, store)
    }

    /// Each configured connection's destination, by connection id.
    pub fn destination_of_connections(&self) -> BTreeMap<String, String> {
        self.gates.destination_of_connections()
    }

    /// Sends `command` to connection `id`; answers what happened, in words.
    pub async fn connection(
        &self,
        id: &str,
        command: ConnectionCommand,
    ) -> Result<&'static str, ControlError> {
        let message = ToConnection {
            id: id.to_owned(),
            command,
        };
        self.supervisor
            .send(message)
            .await
            .map_err(|_| ControlError::ShuttingDown)?
    }

    /// Whether each configured connection's actor is alive.
    pub async fn liveness(&self) -> Result<BTreeMap<String, bool>, ControlError> {
        self.supervisor
            .send(Liveness)
            .await
            .map_err(|_| ControlError::ShuttingDown)
    }

    /// Applies `config`, already validated, to the running tree.
    pub async fn reload(&self, config: Config) -> Result<ReloadReport, ControlError> {
        self.supervisor
            .send(Reload(Box::new(config)))
            .await
            .map_err(|_| ControlError::ShuttingDown)?
    }
}
