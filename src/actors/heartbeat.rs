//! `HeartbeatActor`: one per connection with `heartbeat_secs`, started and stopped with its
//! `ConnectionActor`. When the connection has delivered nothing for that long, it sends one
//! signed `courier.heartbeat` to the destination (see [`crate::delivery::heartbeat`]); while
//! notifications flow, it sends none, and while the destination is failing or paused it sends
//! none either (a paused destination is sent nothing; a failing one is probed with real
//! notifications, and a heartbeat's outcome does not count towards its health).

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use chrono::{DateTime, Utc};

use super::claims::Claims;
use super::connection::ConnectionDeps;
use super::messages::StopPolling;
use crate::config::{ConnectionConfig, DestinationConfig};
use crate::delivery::gate::DestinationGate;
use crate::delivery::heartbeat::{heartbeat, until_due};
use crate::delivery::sender::{attempt, destination_client, AttemptOutcome};
use crate::escape::escaped;
use crate::store::Store;

/// The actor; see the module doc.
pub struct HeartbeatActor {
    connection: Arc<ConnectionConfig>,
    destination: Arc<DestinationConfig>,
    store: Store,
    /// Where the connection's deliveries note their time.
    claims: Arc<Claims>,
    /// The destination's health: no heartbeat unless it accepts notifications.
    gate: Arc<DestinationGate>,
    every: Duration,
    /// When this actor started or last sent a heartbeat: the connection is quiet since the
    /// later of this and its last delivery.
    last_beat: DateTime<Utc>,
    /// Built in `started`: awc clients belong to the thread that runs them.
    http: Option<awc::Client>,
}

impl HeartbeatActor {
    /// Heartbeats for `connection` every `every` of quiet, to `destination` (its health in
    /// `gate`).
    pub fn new(
        connection: Arc<ConnectionConfig>,
        destination: Arc<DestinationConfig>,
        store: Store,
        (claims, gate): (Arc<Claims>, Arc<DestinationGate>),
        every: Duration,
    ) -> Self {
        let last_beat = gate.clock().now();
        Self {
            connection,
            destination,
            store,
            claims,
            gate,
            every,
            last_beat,
            http: None,
        }
    }

    /// The heartbeat actor of a connection, started, when it has `heartbeat_secs`.
    pub fn for_connection(deps: &ConnectionDeps) -> Option<Addr<Self>> {
        let every = deps.config.heartbeat?;
        let (config, destination) = (Arc::clone(&deps.config), Arc::clone(&deps.destination));
        let store = deps.store.clone();
        let health = (Arc::clone(&deps.claims), Arc::clone(deps.claims.gate()));
        Some(Self::new(config, destination, store, health, every).start())
    }

    /// Sends a heartbeat if one is due, else waits until it would be and looks again (a
    /// delivery in between pushes it back).
    fn check(&mut self, ctx: &mut Context<Self>) {
        let quiet_since = self
            .claims
            .last_delivered()
            .map_or(self.last_beat, |at| at.max(self.last_beat));
        let wait = until_due(self.every, quiet_since, self.gate.clock().now());
        if !wait.is_zero() {
            ctx.run_later(wait, |act, ctx| act.check(ctx));
            return;
        }
        self.last_beat = self.gate.clock().now();
        if !self.gate.accepts() {
            // Failing or paused: skipped, not queued; the next is due `every` from now.
            ctx.run_later(self.every, |act, ctx| act.check(ctx));
            return;
        }
        let (store, connection) = (self.store.clone(), Arc::clone(&self.connection));
        let read = async move {
            let (id, initial) = (&connection.id, connection.source.initial_cursor());
            store.connection_state(id, initial).await
        };
        ctx.spawn(read.into_actor(self).map(|state, act, ctx| match state {
            Ok(state) => act.beat(state.next_sequence - 1, ctx),
            Err(err) => {
                let id = &act.connection.id;
                log::warn!("conn={id} no heartbeat: {}", escaped(&err));
                ctx.run_later(act.every, |act, ctx| act.check(ctx));
            }
        }));
    }

    /// Sends the heartbeat of a connection whose last container is `last_sequence`, then
    /// looks again when the next is due.
    fn beat(&mut self, last_sequence: u64, ctx: &mut Context<Self>) {
        let id = &self.connection.id;
        let beat = heartbeat(id, last_sequence, self.last_beat, self.destination.format);
        let (http, destination) = (
            self.http.clone().expect("started before checking"),
            Arc::clone(&self.destination),
        );
        let clock = self.gate.clock().clone();
        let send = async move { (attempt(&http, &destination, &beat, &clock).await, beat.id) };
        ctx.spawn(send.into_actor(self).map(|(outcome, beat), act, ctx| {
            // Not data: a lost heartbeat is not retried; the destination's own status shows
            // whether it is failing.
            if let AttemptOutcome::Failed { error, .. } = outcome {
                let (conn, dest) = (&act.connection.id, &act.destination.id);
                log::debug!(
                    "conn={conn} dest={dest} heartbeat {beat} failed: {}",
                    escaped(&error)
                );
            }
            act.check(ctx);
        }));
    }
}

impl Actor for HeartbeatActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.http = Some(destination_client(&self.destination));
        self.check(ctx);
    }
}

impl Handler<StopPolling> for HeartbeatActor {
    type Result = ();

    fn handle(&mut self, _: StopPolling, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}
