//! Applying a reloaded configuration to the running tree: connections added, removed or
//! changed (their own settings or their destination's) are started, retired or restarted;
//! every other connection keeps its actor, its timer and its cadence.

use std::collections::BTreeSet;
use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::Semaphore;

use super::Supervisor;
use crate::actors::control::{
    Command, ConnectionCommand, ControlError, Reload, ReloadReport, Retire,
};
use crate::actors::delivery::DeliveryActor;
use crate::cluster::config_hash;
use crate::cluster::keeper::Reconfigured;
use crate::config::Config;
use crate::status::ConnectionState;

/// What differs between the running configuration and a new one.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ReloadPlan {
    /// The report of what happens to connections.
    pub report: ReloadReport,
    /// Destinations whose delivery actors are replaced (new or changed).
    pub start_destinations: Vec<String>,
    /// Destinations no longer configured.
    pub drop_destinations: Vec<String>,
}

/// Compares settings by their `Debug` text: every setting shows in it, secrets as a redacted
/// marker (the environment they come from cannot change under a running process).
fn same<T: std::fmt::Debug>(a: &T, b: &T) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

/// Plans the move from `old` to `new`, or refuses what cannot change while running.
pub fn plan(old: &Config, new: &Config) -> Result<ReloadPlan, ControlError> {
    if old.store != new.store || old.cluster != new.cluster {
        return Err(ControlError::Refused(format!(
            "the store cannot change while Courier runs ({} to {}); restart Courier to use \
             another store",
            old.store.describe(),
            new.store.describe()
        )));
    }
    let mut plan = ReloadPlan::default();
    let changed_destinations: BTreeSet<&String> = new
        .destinations
        .iter()
        .filter(|(id, d)| old.destinations.get(*id).is_none_or(|old| !same(old, *d)))
        .map(|(id, _)| id)
        .collect();
    plan.start_destinations = changed_destinations
        .iter()
        .map(|id| (*id).clone())
        .collect();
    plan.drop_destinations = old
        .destinations
        .keys()
        .filter(|id| !new.destinations.contains_key(*id))
        .cloned()
        .collect();
    let report = &mut plan.report;
    for (id, connection) in &new.connections {
        let list = match old.connections.get(id) {
            None => &mut report.added,
            Some(running)
                if !same(running, connection)
                    || changed_destinations.contains(&connection.destination) =>
            {
                &mut report.restarted
            }
            Some(_) => &mut report.unchanged,
        };
        list.push(id.clone());
    }
    report.removed = old
        .connections
        .keys()
        .filter(|id| !new.connections.contains_key(*id))
        .cloned()
        .collect();
    if !same(&old.runtime, &new.runtime) {
        report.ignored.push("runtime".into());
    }
    if !same(&old.admin, &new.admin) {
        report.ignored.push("admin".into());
    }
    Ok(plan)
}

impl Supervisor {
    /// Starts one delivery actor per worker for each of `ids` (replacing any running ones,
    /// which finish what they hold), sharing a new `max_in_flight` budget per destination.
    fn start_destinations(&mut self, ids: &[String]) {
        for id in ids {
            let destination = Arc::new(self.config.destinations[id].clone());
            let room = Arc::new(Semaphore::new(destination.max_in_flight));
            let gate = self.gates.get(id).expect("a gate per destination");
            for (worker, deliveries) in self.workers.iter().zip(&mut self.deliveries) {
                let (store, board) = (self.store.clone(), self.board.clone());
                let (destination, room) = (Arc::clone(&destination), Arc::clone(&room));
                let gate = Arc::clone(&gate);
                let addr = DeliveryActor::start_in_arbiter(&worker.handle(), move |_| {
                    DeliveryActor::new(destination, store, board, room, gate)
                });
                deliveries.insert(id.clone(), addr);
            }
            self.board.destination(id, |_| ());
        }
    }

    fn apply(&mut self, new: Config, plan: ReloadPlan) -> ReloadReport {
        let report = plan.report;
        // An operator's pause outlives the restart of a changed connection.
        let status = self.board.snapshot();
        let paused: Vec<&String> = report
            .restarted
            .iter()
            .filter(|id| {
                status
                    .connections
                    .get(*id)
                    .is_some_and(|c| c.state == ConnectionState::Paused)
            })
            .collect();
        // In a cluster, only connections owned here run here; the keeper shares out the
        // added ones (see `cluster.rs`).
        let start: Vec<String> = match self.keeper {
            None => report
                .added
                .iter()
                .chain(&report.restarted)
                .cloned()
                .collect(),
            Some(_) => report
                .restarted
                .iter()
                .filter(|id| self.connections.contains_key(*id))
                .cloned()
                .collect(),
        };
        for id in report.removed.iter().chain(&report.restarted) {
            if let Some(addr) = self.connections.remove(id) {
                let forget = report.removed.contains(id);
                let reason = "by a configuration reload";
                addr.do_send(Retire { forget, reason });
            }
            // No promotions to the retiring actor; the new one's start takes the claims over.
            if let Some(claims) = self.claims.get(id) {
                claims.end_generation();
            }
            // Moved to another destination or removed: the old gate no longer tells it.
            let before = self.config.connections[id].destination.clone();
            if new
                .connections
                .get(id)
                .is_none_or(|c| c.destination != before)
            {
                self.forget_connection(id, &before);
            }
        }
        self.config = Config {
            runtime: self.config.runtime.clone(),
            admin: self.config.admin.clone(),
            ..new
        };
        // Gates of kept destinations stay (with their state and new threshold); see Gates.
        self.gates.configure(&self.config);
        for id in &plan.drop_destinations {
            for deliveries in &mut self.deliveries {
                deliveries.remove(id);
            }
            self.board.forget_destination(id);
        }
        self.start_destinations(&plan.start_destinations);
        self.start_sweeper();
        for id in &start {
            self.start_connection(id);
        }
        if let Some(keeper) = &self.keeper {
            let connections = self.config.connections.keys().cloned().collect();
            let config_hash = config_hash(&self.config);
            keeper.do_send(Reconfigured {
                connections,
                config_hash,
            });
        }
        for id in paused {
            // The first message the new actor handles: it pauses before its first poll.
            if let Some(addr) = self.connections.get(id) {
                addr.do_send(Command(ConnectionCommand::Pause));
            }
        }
        report
    }
}

impl Handler<Reload> for Supervisor {
    type Result = Result<ReloadReport, ControlError>;

    fn handle(&mut self, msg: Reload, _ctx: &mut Context<Self>) -> Self::Result {
        let new = *msg.0;
        let plan = plan(&self.config, &new)?;
        let report = self.apply(new, plan);
        log::info!(
            "configuration reloaded: {} added, {} removed, {} restarted, {} unchanged",
            report.added.len(),
            report.removed.len(),
            report.restarted.len(),
            report.unchanged.len()
        );
        for section in &report.ignored {
            log::warn!("[{section}] changed: it takes effect at the next start, not at a reload");
        }
        Ok(report)
    }
}
