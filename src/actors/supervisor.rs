//! `Supervisor`: builds the actor tree from the configuration — worker threads, one delivery
//! actor per destination and worker, one supervised connection actor per connection — and
//! takes it down gracefully.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use tokio::sync::Semaphore;

use super::claims::Claims;
use super::connection::{ConnectionActor, ConnectionDeps, PollHook};
use super::delivery::DeliveryActor;
use super::messages::DestinationChanged;
use super::messages::StopPolling;
use crate::config::Config;
use crate::delivery::gate::DestinationGate;
use crate::status::StatusBoard;
use crate::store::Store;

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
    gates: BTreeMap<String, Arc<DestinationGate>>,
    poll_hook: Option<PollHook>,
    workers: Vec<Arbiter>,
    connections: BTreeMap<String, Addr<ConnectionActor>>,
}

impl Supervisor {
    /// A supervisor for `config`, whose destinations' health is kept in `gates` (one per
    /// destination); nothing runs until it is started.
    pub fn new(
        config: Config,
        store: Store,
        board: StatusBoard,
        gates: BTreeMap<String, Arc<DestinationGate>>,
        poll_hook: Option<PollHook>,
    ) -> Self {
        Self {
            config,
            store,
            board,
            gates,
            poll_hook,
            workers: Vec::new(),
            connections: BTreeMap::new(),
        }
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
                        let gate = Arc::clone(&self.gates[id]);
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
        let deliveries = self.start_deliveries();
        for (index, (id, config)) in self.config.connections.iter().enumerate() {
            let worker = index % self.workers.len();
            let gate = Arc::clone(&self.gates[&config.destination]);
            let order = self.config.destinations[&config.destination].order.clone();
            let deps = ConnectionDeps {
                config: Arc::new(config.clone()),
                store: self.store.clone(),
                board: self.board.clone(),
                deliver: deliveries[worker][&config.destination].clone().recipient(),
                format: self.config.destinations[&config.destination].format,
                claims: Arc::new(Claims::new(order, Arc::clone(&gate))),
                gate: Arc::clone(&gate),
                poll_hook: self.poll_hook.clone(),
            };
            let addr =
                actix::Supervisor::start_in_arbiter(&self.workers[worker].handle(), move |_| {
                    ConnectionActor::new(deps)
                });
            let listener = addr.clone();
            gate.listen(Box::new(move || listener.do_send(DestinationChanged)));
            self.connections.insert(id.clone(), addr);
        }
        log::info!(
            "started {} connections and {} destinations on {} workers",
            self.connections.len(),
            self.config.destinations.len(),
            self.workers.len()
        );
    }
}

impl Handler<Shutdown> for Supervisor {
    type Result = ResponseActFuture<Self, Vec<Arbiter>>;

    fn handle(&mut self, msg: Shutdown, _ctx: &mut Context<Self>) -> Self::Result {
        for addr in self.connections.values() {
            addr.do_send(StopPolling);
        }
        let board = self.board.clone();
        Box::pin(
            async move { wait_for_requests(&board, msg.grace).await }
                .into_actor(self)
                .map(|(), act, _ctx| std::mem::take(&mut act.workers)),
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
