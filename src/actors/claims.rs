//! One connection's [`Dispatch`] machine as its actors share it: the connection, its
//! enricher and the delivery actors (on any worker, across the connection's restarts and a
//! reload's new actor) feed it events through [`Claims`] and [`Claim`]; what a release asks of
//! the connection (dispatch the next container of a key, walk the store) is sent to whichever
//! actor runs the connection now ([`Released`]).
//!
//! A claim is released by an explicit call ([`Claim::finish`], [`Claim::delivered`],
//! [`Claim::let_go`]) on every path its work can end by; dropping one does nothing. A claim
//! whose work was cancelled with its generation (a restart stops the enricher) is voided by
//! the next generation's start.

use std::sync::{Arc, Mutex, MutexGuard};

use actix::Recipient;
use chrono::{DateTime, Utc};

use super::messages::Released;
use crate::config::DeliveryOrder;
use crate::delivery::gate::DestinationGate;
use crate::dispatch::claims::Ticket;
use crate::dispatch::{Action, Dispatch, Event, Seen};
use crate::model::Container;

/// One connection's dispatch; shared by its actors across restarts.
#[derive(Debug)]
pub struct Claims {
    machine: Mutex<Dispatch>,
    /// The destination's health: promote only while it accepts notifications.
    gate: Arc<DestinationGate>,
    /// The connection, told of promoted containers and let-go ones.
    connection: Mutex<Option<Recipient<Released>>>,
}

/// A claim on one container, released by an explicit call. Clones name the same claim: the
/// first release ends it, later ones are ignored.
#[derive(Debug, Clone)]
pub struct Claim {
    claims: Arc<Claims>,
    ticket: Ticket,
}

impl Claims {
    /// The dispatch of a connection whose destination orders by `order` and has health `gate`.
    pub fn new(order: DeliveryOrder, gate: Arc<DestinationGate>) -> Self {
        Self {
            machine: Mutex::new(Dispatch::new(order)),
            gate,
            connection: Mutex::new(None),
        }
    }

    /// Feeds `event` to the machine; gives back the probe slots it frees and answers what
    /// else to do.
    pub fn on(&self, event: Event<'_>) -> Vec<Action> {
        let mut actions = self.lock().on(event);
        actions.retain(|action| match action {
            Action::ReleaseProbe(token) => {
                self.gate.release_probe(*token);
                false
            }
            _ => true,
        });
        actions
    }

    /// What the machine needs from outside now: the gate's state, and the store's re-open
    /// count `reopens`.
    pub fn seen(&self, reopens: u64) -> Seen {
        Seen {
            open_epoch: self.gate.open_epoch(),
            reopens,
        }
    }

    /// The destination's health.
    pub fn gate(&self) -> &Arc<DestinationGate> {
        &self.gate
    }

    /// Starts a generation of the connection, whose releases are told to `connection` from
    /// now on; answers what to do (walk the store).
    pub fn begin_generation(&self, connection: Recipient<Released>) -> Vec<Action> {
        *self.connection.lock().unwrap_or_else(|p| p.into_inner()) = Some(connection);
        self.on(Event::Started)
    }

    /// The connection stops taking promotions (shutdown, or a restart under way).
    pub fn end_generation(&self) {
        self.on(Event::Stopped);
    }

    /// No actor of the connection will use these claims again (removed, or moved to another
    /// destination at a reload): claims still enriching are void, giving back their probes.
    pub fn retire(&self) {
        self.on(Event::Retired);
    }

    /// Whether these claims order by `order` and follow `gate`: then a reload's new actor of
    /// the connection may take them over.
    pub fn serves(&self, order: &DeliveryOrder, gate: &Arc<DestinationGate>) -> bool {
        self.lock().orders_by(order) && Arc::ptr_eq(&self.gate, gate)
    }

    /// The claim `ticket` names.
    pub fn claim(self: &Arc<Self>, ticket: Ticket) -> Claim {
        Claim {
            claims: Arc::clone(self),
            ticket,
        }
    }

    /// Whether a walk of the store became due while a step ran.
    pub fn walk_due(&self) -> bool {
        self.lock().walk_due()
    }

    /// How many containers were let go so far.
    pub fn let_go_count(&self) -> u64 {
        self.lock().claims().let_go_count()
    }

    /// When a notification of this connection was last delivered (2xx), if one was since
    /// the process started.
    pub fn last_delivered(&self) -> Option<DateTime<Utc>> {
        self.lock().last_delivered()
    }

    /// Containers claimed or waiting.
    pub fn len(&self) -> usize {
        self.lock().claims().len()
    }

    /// Whether nothing is claimed or waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether container `sequence` is neither claimed nor waiting.
    pub fn is_free(&self, sequence: u64) -> bool {
        self.lock().claims().is_free(sequence)
    }

    /// The hash of the key `container` is ordered by; `None` without per-key order.
    pub fn key_of(&self, container: &Container) -> Option<u64> {
        self.lock().key_of(container)
    }

    fn lock(&self) -> MutexGuard<'_, Dispatch> {
        self.machine
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Feeds a release and tells the connection what it asks for.
    fn release(self: &Arc<Self>, event: Event<'_>) {
        for action in self.on(event) {
            let released = match action {
                Action::Promote(next) => Released::Next(self.claim(next)),
                Action::Walk => Released::LetGo,
                _ => continue,
            };
            self.tell(released);
        }
    }

    fn tell(self: &Arc<Self>, released: Released) {
        let connection = self
            .connection
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        match connection {
            // Queued even when the mailbox is full: releases are few (one per finished key,
            // or a container let go) and must not be lost.
            Some(connection) if connection.connected() => connection.do_send(released),
            _ => {
                // The connection is gone: stop promoting, and let the promoted container go,
                // which dissolves its line instead of promoting the one after it; the next
                // walk dispatches it.
                self.end_generation();
                if let Released::Next(claim) = released {
                    claim.let_go();
                }
            }
        }
    }
}

impl Claim {
    /// The container has been enriched and goes to delivery: a connection restart no longer
    /// frees it. `false` when the claim was voided by a restart: the notification must not
    /// go out (the new generation dispatches the container again).
    pub fn delivering(&self) -> bool {
        let actions = self.claims.on(Event::Enriched(self.ticket));
        actions.contains(&Action::Deliver(self.ticket))
    }

    /// Whether the claim still holds (a restart did not void it).
    pub fn is_current(&self) -> bool {
        self.claims.lock().is_current(self.ticket)
    }

    /// The claimed container's sequence number.
    pub fn sequence(&self) -> u64 {
        self.ticket.sequence
    }

    /// The claimed container's notification was delivered (2xx) and the container left the
    /// store just now (by the app's clock): notes the time (heartbeats) and releases the
    /// claim, so the next of its key may go.
    pub fn delivered(self) {
        let at = self.claims.gate.clock().now();
        let open = self.claims.gate.accepts();
        let ticket = self.ticket;
        self.claims.release(Event::Delivered { ticket, at, open });
    }

    /// Releases the claim of a container that left the store (dead-lettered, or found
    /// gone), so the next of its key may go.
    pub fn finish(self) {
        let open = self.claims.gate.accepts();
        let ticket = self.ticket;
        self.claims.release(Event::Finished { ticket, open });
    }

    /// Releases the claim of a container that stays pending: its line dissolves (a later
    /// container of its key must not overtake it) and, while the destination accepts
    /// notifications, the connection walks its store again.
    pub fn let_go(self) {
        let open = self.claims.gate.accepts();
        let ticket = self.ticket;
        self.claims.release(Event::LetGo { ticket, open });
    }
}

#[cfg(test)]
pub(crate) mod tests;
