//! `DeliveryActor`: one per destination and worker thread. It admits notifications while the
//! destination has room (`max_in_flight`, shared by all workers) and runs each delivery to its
//! end.

use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::Semaphore;

use super::completions::Completions;
use super::messages::{ConnectionFailed, Deliver};
use super::{admit, contain_panic};
use crate::config::DestinationConfig;
use crate::delivery::gate::DestinationGate;
use crate::delivery::sender::destination_client;
use crate::delivery::worker::{deliver, DeliveryContext, Final};
use crate::escape::escaped;
use crate::status::StatusBoard;
use crate::store::Store;

/// The actor; see the module doc.
pub struct DeliveryActor {
    destination: Arc<DestinationConfig>,
    store: Store,
    board: StatusBoard,
    /// Notifications admitted and not yet finished, across every worker of this destination.
    room: Arc<Semaphore>,
    /// The destination's health, shared with its other workers and its connections.
    gate: Arc<DestinationGate>,
    /// Built in `started`: awc clients and the batch of completions belong to the thread
    /// that runs them.
    context: Option<(DeliveryContext, Completions)>,
}

impl DeliveryActor {
    /// A delivery actor for `destination`, sharing `room` with the destination's other workers.
    pub fn new(
        destination: Arc<DestinationConfig>,
        store: Store,
        board: StatusBoard,
        room: Arc<Semaphore>,
        gate: Arc<DestinationGate>,
    ) -> Self {
        Self {
            destination,
            store,
            board,
            room,
            gate,
            context: None,
        }
    }
}

impl Actor for DeliveryActor {
    type Context = Context<Self>;

    fn started(&mut self, _ctx: &mut Context<Self>) {
        let delivery = DeliveryContext {
            http: destination_client(&self.destination),
            destination: Arc::clone(&self.destination),
            store: self.store.clone(),
            board: self.board.clone(),
            gate: Arc::clone(&self.gate),
        };
        let completions = Completions::new(self.store.clone(), Arc::clone(&self.destination));
        self.context = Some((delivery, completions));
    }
}

impl Handler<Deliver> for DeliveryActor {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, msg: Deliver, _ctx: &mut Context<Self>) -> Self::Result {
        if !self.gate.accepts() && msg.probe.is_none() {
            // Failing or paused: the container stays pending, its claim is released here.
            drop(msg);
            return Box::pin(actix::fut::ready(()));
        }
        admit(&self.room, move |act: &mut Self| {
            let (delivery, completions) = act
                .context
                .clone()
                .expect("started before handling messages");
            let dest = act.destination.id.clone();
            act.board.destination(&dest, |d| d.in_flight += 1);
            async move {
                let Deliver {
                    notification,
                    claim,
                    failed,
                    probe,
                } = msg;
                let delivered = deliver(&delivery, &notification, probe);
                let outcome = contain_panic(delivered).await;
                delivery.board.destination(&dest, |d| d.in_flight -= 1);
                let unfinished = match outcome {
                    // Its claim is released once its container has left the store.
                    Ok(Final::Delivered) => {
                        completions.complete(notification, claim, delivery.gate.clock().now());
                        return;
                    }
                    Ok(Final::DeadLettered) => {
                        claim.finish();
                        None
                    }
                    // Let go, the container stays pending: the connection dispatches it again
                    // (dropping the claim tells it so). Nothing was delivered.
                    Ok(Final::LetGo) => None,
                    Ok(Final::StillPending) => {
                        Some("a dead letter could not be written".to_owned())
                    }
                    Err(panic) => {
                        Some(format!("delivery of {} panicked: {panic}", notification.id))
                    }
                };
                if let Some(reason) = unfinished {
                    // The container is still pending: the connection's restart dispatches it
                    // again (its claim, dropped with the match above, let it go).
                    log::error!("dest={dest} notif={} {}", notification.id, escaped(&reason));
                    failed.do_send(ConnectionFailed {
                        generation: None,
                        reason,
                    });
                }
            }
        })
    }
}
