//! `Operations`: the operator's actions on a running app's data (dead letters, replay), as a
//! cheap handle the admin API's workers share.

use std::time::Duration;

use actix::prelude::*;

use super::replay::Jobs;
use crate::actors::supervisor::{CurrentConfig, Supervisor};
use crate::delivery::gates::Gates;
use crate::store::Store;

/// A handle on the running app for dead-letter and replay actions; cheap to clone. Its
/// methods live beside their subject (`dead_letters`, `replay`).
#[derive(Clone)]
pub struct Operations {
    /// Routes retried dead letters to their connections; knows the running configuration.
    pub(super) supervisor: Addr<Supervisor>,
    /// The store.
    pub(super) store: Store,
    /// The thread the app was started on, where replays run.
    pub(super) arbiter: actix_rt::ArbiterHandle,
    /// Replay jobs started, running or ended.
    pub(super) replays: Jobs,
    /// Each destination's health: no replay goes to a paused one.
    pub(super) gates: Gates,
}

impl Operations {
    /// The app's clock, for what the admin API shows as now.
    pub fn clock(&self) -> &crate::clock::Clock {
        self.gates.clock()
    }

    /// How long a lease lasts in the running configuration (`[cluster] lease_secs`), for
    /// judging whether this instance's leases are fresh; `None` once the actor tree is gone.
    pub async fn lease(&self) -> Option<Duration> {
        let config = self.supervisor.send(CurrentConfig).await.ok()?;
        Some(config.cluster.lease)
    }

    /// The handle of the app whose root is `supervisor`; call on the app's own thread.
    pub(super) fn new(supervisor: Addr<Supervisor>, store: Store, gates: Gates) -> Self {
        Self {
            supervisor,
            store,
            gates,
            arbiter: actix_rt::Arbiter::current(),
            replays: Jobs::default(),
        }
    }
}
