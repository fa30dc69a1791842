//! `Supervisor`: builds the actor tree from the configuration — worker threads, one delivery
//! actor per destination and worker, one supervised connection actor per connection — and
//! takes it down gracefully.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use tokio::sync::Semaphore;

use super::claims::Claims;
use super::connection::{ConnectionActor, ConnectionDeps};
use super::control::{Command, ControlError, Liveness, ToConnection};
use super::delivery::DeliveryActor;
use super::messages::{DestinationChanged, Redispatch, StopPolling};
use super::retention::RetentionSweeper;
use crate::cluster::LeaseKeeper;
use crate::config::Config;
use crate::delivery::gate::DestinationGate;
use crate::delivery::gates::Gates;
use crate::status::counted;
use crate::status::StatusBoard;
use crate::store::Store;

mod cluster;
mod reload;

pub use cluster::{Disown, Own};

/// Stop polling and let in-flight requests finish within `grace`; answered with the worker
/// threads, for the caller to stop and join before the final flush.
#[derive(Message)]
#[rtype(result = "Vec<Arbiter>")]
pub struct Shutdown {
    /// The longest wait for in-flight requests.
    pub grace: Duration,
}

/// The root of the actor tree.
pub struct Supervisor {
    config: Config,
    store: Store,
    board: StatusBoard,
    /// Each destination's health; kept in line with the configuration at a reload.
    gates: Gates,
    /// Each connection's claims, kept across a reload's restart of the connection while its
    /// destination and ordering stay the same (see [`Supervisor::claims_for`]).
    claims: BTreeMap<String, Arc<Claims>>,
    workers: Vec<Arbiter>,
    /// Per worker: the delivery actor of each destination.
    deliveries: Vec<BTreeMap<String, Addr<DeliveryActor>>>,
    connections: BTreeMap<String, Addr<ConnectionActor>>,
    /// Removes delivered notifications past their destination's retention.
    sweeper: Option<Addr<RetentionSweeper>>,
    /// The worker the next started connection goes to (round robin).
    next_worker: usize,
    /// In a cluster, the lease keeper: connections start and stop when it says (see
    /// `cluster.rs`), and connections whose writes are refused tell it.
    keeper: Option<Addr<LeaseKeeper>>,
}

impl Supervisor {
    /// A supervisor for `config`, whose destinations' health is kept in `gates` (one per
    /// destination); nothing runs until it is started.
    pub fn new(config: Config, store: Store, board: StatusBoard, gates: Gates) -> Self {
        Self {
            config,
            store,
            board,
            gates,
            claims: BTreeMap::new(),
            workers: Vec::new(),
            deliveries: Vec::new(),
            connections: BTreeMap::new(),
            sweeper: None,
            next_worker: 0,
            keeper: None,
        }
    }

    /// The same supervisor in a cluster: it starts no connection until `keeper` says this
    /// instance owns it.
    pub fn in_cluster(mut self, keeper: Addr<LeaseKeeper>) -> Self {
        self.keeper = Some(keeper);
        self
    }

    /// Starts connection `id` with its settings from the current configuration, on the next
    /// worker in turn, registered with its destination's gate (which tells it when the
    /// destination accepts notifications again).
    fn start_connection(&mut self, id: &str) {
        let config = self.config.connections[id].clone();
        let worker = self.next_worker % self.workers.len();
        self.next_worker += 1;
        self.board.connection(id, |_| ());
        let destination = self.config.destinations[&config.destination].clone();
        let gate = self
            .gates
            .get(&config.destination)
            .expect("every configured destination has a gate");
        let claims = self.claims_for(id, &destination.order, &gate);
        let deps = ConnectionDeps {
            store: self.store.clone(),
            board: self.board.clone(),
            deliver: self.deliveries[worker][&config.destination]
                .clone()
                .recipient(),
            destination: Arc::new(destination),
            config: Arc::new(config),
            claims,
            lease_lost: self.keeper.clone().map(Addr::recipient),
        };
        let addr = actix::Supervisor::start_in_arbiter(&self.workers[worker].handle(), move |_| {
            ConnectionActor::new(deps)
        });
        let listener = addr.clone();
        gate.listen(id, Box::new(move || listener.do_send(DestinationChanged)));
        self.connections.insert(id.to_owned(), addr);
    }

    /// Connection `id`'s claims: those of its previous actor when it feeds the same gate with
    /// the same order (deliveries of the old actor still in flight keep their keys, so the new
    /// actor never overtakes them), fresh ones otherwise.
    fn claims_for(
        &mut self,
        id: &str,
        order: &crate::config::DeliveryOrder,
        gate: &Arc<DestinationGate>,
    ) -> Arc<Claims> {
        let claims = match self.claims.get(id) {
            Some(claims) if claims.serves(order, gate) => Arc::clone(claims),
            _ => Arc::new(Claims::new(order.clone(), Arc::clone(gate))),
        };
        if let Some(old) = self.claims.insert(id.to_owned(), Arc::clone(&claims)) {
            if !Arc::ptr_eq(&old, &claims) {
                old.retire();
            }
        }
        claims
    }

    /// Connection `id` is gone (removed at a reload): its gate forgets it, and its claims go.
    fn forget_connection(&mut self, id: &str, destination: &str) {
        if let Some(gate) = self.gates.get(destination) {
            gate.forget(id);
        }
        if let Some(claims) = self.claims.remove(id) {
            claims.retire();
        }
    }

    /// (Re)starts the retention sweeper with the destinations' current `retain_hours`.
    fn start_sweeper(&mut self) {
        if let Some(old) = self.sweeper.take() {
            old.do_send(StopPolling);
        }
        let retain = self.config.destinations.iter();
        let retain = retain.map(|(id, d)| (id.clone(), d.retain)).collect();
        self.sweeper = Some(
            RetentionSweeper::new(self.store.clone(), retain, self.gates.clock().clone()).start(),
        );
    }

    /// One delivery actor per destination on each worker; all of a destination's actors share
    /// one `max_in_flight` budget.
    fn start_deliveries(&self) -> Vec<BTreeMap<String, Addr<DeliveryActor>>> {
        let rooms: BTreeMap<&String, Arc<Semaphore>> = self
            .config
            .destinations
            .iter()
            .map(|(id, d)| (id, Arc::new(Semaphore::new(d.max_in_flight))))
            .collect();
        self.workers
            .iter()
            .map(|worker| {
                self.config
                    .destinations
                    .iter()
                    .map(|(id, destination)| {
                        let (store, board) = (self.store.clone(), self.board.clone());
                        let (destination, room) =
                            (Arc::new(destination.clone()), Arc::clone(&rooms[id]));
                        let gate = self.gates.get(id).expect("a gate per destination");
                        let addr = DeliveryActor::start_in_arbiter(&worker.handle(), move |_| {
                            DeliveryActor::new(destination, store, board, room, gate)
                        });
                        (id.clone(), addr)
                    })
                    .collect()
            })
            .collect()
    }
}

impl Actor for Supervisor {
    type Context = Context<Self>;

    fn started(&mut self, _ctx: &mut Context<Self>) {
        self.workers = (0..self.config.runtime.workers.max(1))
            .map(|_| Arbiter::new())
            .collect();
        self.deliveries = self.start_deliveries();
        self.start_sweeper();
        if self.keeper.is_some() {
            return log::info!(
                "started {} on {}; connections start as their leases are taken",
                counted(self.config.destinations.len(), "destination"),
                counted(self.workers.len(), "worker")
            );
        }
        let ids: Vec<String> = self.config.connections.keys().cloned().collect();
        for id in ids {
            self.start_connection(&id);
        }
        log::info!(
            "started {} and {} on {}",
            counted(self.connections.len(), "connection"),
            counted(self.config.destinations.len(), "destination"),
            counted(self.workers.len(), "worker")
        );
    }
}

/// A worker thread outlives its `Arbiter` value: a supervisor dropped without [`Shutdown`]
/// (its system ended: a test that returned, a panic on the system thread) would leave its
/// connections polling, delivering and holding the store open on threads nobody stops, for as
/// long as the process lives. They are told to stop here; [`Shutdown`] takes them first, to
/// stop them and wait for them.
impl Drop for Supervisor {
    fn drop(&mut self) {
        for worker in &self.workers {
            worker.stop();
        }
    }
}

impl Handler<Shutdown> for Supervisor {
    type Result = ResponseActFuture<Self, Vec<Arbiter>>;

    fn handle(&mut self, msg: Shutdown, _ctx: &mut Context<Self>) -> Self::Result {
        for addr in self.connections.values() {
            addr.do_send(StopPolling);
        }
        if let Some(sweeper) = self.sweeper.take() {
            sweeper.do_send(StopPolling);
        }
        let board = self.board.clone();
        Box::pin(
            async move { wait_for_requests(&board, msg.grace).await }
                .into_actor(self)
                .map(|(), act, _ctx| std::mem::take(&mut act.workers)),
        )
    }
}

/// The configuration running now; answered with a copy.
#[derive(Message)]
#[rtype(result = "Config")]
pub struct CurrentConfig;

impl Handler<CurrentConfig> for Supervisor {
    type Result = MessageResult<CurrentConfig>;

    fn handle(&mut self, _: CurrentConfig, _ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(self.config.clone())
    }
}

/// Containers of `connection` went back to pending (dead letters sent back): it walks its
/// store again, in sequence order, through its key order and its destination's gate;
/// answered with whether that connection is running here. When it is not, the containers
/// wait in the store for its next start.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct RedispatchTo {
    /// The connection id.
    pub connection: String,
}

impl Handler<RedispatchTo> for Supervisor {
    type Result = bool;

    fn handle(&mut self, msg: RedispatchTo, _ctx: &mut Context<Self>) -> bool {
        let Some(addr) = self.connections.get(&msg.connection) else {
            return false;
        };
        addr.do_send(Redispatch);
        true
    }
}

impl Handler<ToConnection> for Supervisor {
    type Result = ResponseFuture<Result<&'static str, ControlError>>;

    fn handle(&mut self, msg: ToConnection, _ctx: &mut Context<Self>) -> Self::Result {
        let addr = self.connections.get(&msg.id).cloned();
        Box::pin(async move {
            let addr = addr.ok_or_else(|| ControlError::UnknownConnection(msg.id.clone()))?;
            addr.send(Command(msg.command))
                .await
                .map_err(|_| ControlError::Stopped(msg.id))?
        })
    }
}

impl Handler<Liveness> for Supervisor {
    type Result = MessageResult<Liveness>;

    fn handle(&mut self, _: Liveness, _ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(
            self.connections
                .iter()
                .map(|(id, addr)| (id.clone(), addr.connected()))
                .collect(),
        )
    }
}

/// Waits until no delivery request is on the wire (seen twice in a row, since a handed-over
/// notification starts its request a moment later), or until `grace` runs out.
async fn wait_for_requests(board: &StatusBoard, grace: Duration) {
    let deadline = Instant::now() + grace;
    let mut quiet = 0;
    while Instant::now() < deadline && quiet < 2 {
        let sending: u64 = board
            .snapshot()
            .destinations
            .values()
            .map(|d| d.sending)
            .sum();
        quiet = if sending == 0 { quiet + 1 } else { 0 };
        actix_rt::time::sleep(Duration::from_millis(25)).await;
    }
    if quiet < 2 {
        log::warn!("shutdown grace of {grace:?} ran out with requests in flight; they will be retried after restart");
    }
}

#[cfg(test)]
mod tests;
