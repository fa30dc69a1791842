//! `DeliveryActor`: one per destination and worker thread. It admits notifications while the
//! destination has room (`max_in_flight`, shared by all workers) and runs each delivery to its
//! end.

use std::sync::Arc;

use actix::prelude::*;
use chrono::{DateTime, Utc};
use tokio::sync::Semaphore;

use super::claims::Claim;
use super::completions::Completions;
use super::messages::{ConnectionFailed, Deliver};
use super::{admit, contain_panic};
use crate::config::DestinationConfig;
use crate::delivery::gate::DestinationGate;
use crate::delivery::sender::destination_client;
use crate::delivery::worker::{deliver, DeliveryContext, Final};
use crate::escape::escaped;
use crate::model::Notification;
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

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        // The worker stops (shutdown): this turn's acknowledged deliveries are completed
        // now, not left behind with the task that would have written them.
        if let Some((_, completions)) = &self.context {
            completions.flush();
        }
    }

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
        // Taken over here, where nothing cancels it any more: from now on a connection
        // restart does not void the claim, and this actor releases it (a message that never
        // got here leaves it to be voided by the restart that cancelled its sender).
        if !msg.claim.delivering() {
            // Voided by a restart (its probe, if any, given back then): the new generation
            // dispatches the container again.
            return Box::pin(actix::fut::ready(()));
        }
        if !self.gate.accepts() && msg.probe.is_none() {
            // Failing or paused: the container stays pending, its claim is let go here.
            msg.claim.let_go();
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
                let kept = probe.clone();
                let delivered = deliver(&delivery, &notification, probe);
                let outcome = contain_panic(delivered).await;
                if let Some(probe) = kept {
                    // Its delivery is over, however it ended (a failed probe gave its slot
                    // back already, after the probe delay).
                    probe.release();
                }
                delivery.board.destination(&dest, |d| d.in_flight -= 1);
                let now = delivery.gate.clock().now();
                settle(
                    outcome,
                    (notification, claim, failed),
                    &completions,
                    now,
                    &dest,
                );
            }
        })
    }
}

/// What the end of a delivery means for its claim: a delivered notification's container is
/// completed (its claim released once it left the store), a dead letter's claim is finished,
/// a let-go one stays pending. Without a verdict (a panic, a dead letter that could not be
/// written) the connection is told to restart, then the claim is let go, so the connection is
/// failing (not walking its store) by the time it hears of the release.
fn settle(
    outcome: Result<Final, String>,
    (notification, claim, failed): (Notification, Claim, Recipient<ConnectionFailed>),
    completions: &Completions,
    now: DateTime<Utc>,
    dest: &str,
) {
    let reason = match outcome {
        Ok(Final::Delivered) => return completions.complete(notification, claim, now),
        Ok(Final::DeadLettered) => return claim.finish(),
        // Nothing was delivered: letting the claim go tells the connection to dispatch it
        // again.
        Ok(Final::LetGo) => return claim.let_go(),
        Ok(Final::StillPending) => "a dead letter could not be written".to_owned(),
        // Another instance holds the connection's lease: the connection stops here, and the
        // new owner delivers the container again.
        Ok(Final::Fenced) => {
            failed.do_send(ConnectionFailed {
                generation: None,
                reason: "its dead letter was refused: the lease is gone".to_owned(),
                fenced: true,
            });
            return claim.let_go();
        }
        Err(panic) => format!("delivery of {} panicked: {panic}", notification.id),
    };
    log::error!("dest={dest} notif={} {}", notification.id, escaped(&reason));
    failed.do_send(ConnectionFailed {
        generation: None,
        reason,
        fenced: false,
    });
    claim.let_go();
}
