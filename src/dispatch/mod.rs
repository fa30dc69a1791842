//! Dispatch as a plain state machine: which stored containers of one connection may move, and
//! when. [`Dispatch::on`] takes an [`Event`] (something that happened) and answers the
//! [`Action`]s to carry out; it holds no store, no actor and no clock: what it needs from
//! outside (the destination's state, the store's re-open count, the time) comes in with the
//! events. The connection's actors are its shells: they feed events and carry out actions.
//!
//! It owns:
//! - **Claims** ([`claims`]): which containers are in flight, so none is dispatched twice, and
//!   per-key promotion: with `ordering = "per_key"`, the next container of a key goes when the
//!   one before it finished (delivered or dead-lettered); a container *let go* (it stays
//!   pending) dissolves its line instead, and the store is walked again.
//! - **Recovery**: whether the connection is caught up with its store (every stored container
//!   dispatched or waiting behind its key) at a [`Mark`]: one healthy period of the
//!   destination, no container let go since, no re-open of the store since. A poll's page is
//!   dispatched from memory only while that still holds; otherwise the store is walked first
//!   (after a (re)start, a re-open, the destination accepting again, a container let go, dead
//!   letters sent back to pending).
//! - **Probes**: the probe slot of a failing destination travels with the claim of the
//!   container chosen to probe; ending or voiding that claim gives it back
//!   ([`Action::ReleaseProbe`]).
//! - The time of the connection's last delivery, which decides whether a heartbeat is due.
//!
//! Nothing is released when a value is dropped: a claim ends by an event a reader can find
//! ([`Event::Delivered`], [`Event::Finished`], [`Event::LetGo`]), and the claims of work that
//! a restart cancelled are voided by the next [`Event::Started`].
//!
//! Completions (writing delivered containers out of the store, a batch at a time) are the
//! destination's: see [`completion`].

pub mod claims;
pub mod completion;
mod recovery;

use chrono::{DateTime, Utc};

use crate::config::DeliveryOrder;
use crate::delivery::order::{key_hash, value_hash};
use crate::model::Container;
use claims::{Admission, ClaimTable, Ticket};
pub use recovery::Mark;
use recovery::Pass;

/// What the shell saw outside the machine when the event happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// The destination gate's epoch while it accepts notifications; `None` while it does not.
    pub open_epoch: Option<u64>,
    /// The store's re-open count.
    pub reopens: u64,
}

/// The steps a connection runs, one at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Walk the store's pending containers and dispatch them in sequence order.
    Walk,
    /// Poll the EHR for one page and dispatch its containers.
    Poll,
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Step::Walk => "recovery",
            Step::Poll => "poll",
        })
    }
}

/// Where an offered container was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// From the store's pending containers by a walk: a delivery of the previous generation
    /// may have completed it between the read and the claim.
    Walk,
    /// Created by this poll's commit a moment ago: nothing else has seen it, so it is pending.
    Page,
    /// Chosen among the oldest stored containers to probe a failing destination with the
    /// probe slot of this token, which travels with its claim.
    Probe(u64),
}

/// Something that happened to the connection's dispatch.
#[derive(Debug)]
pub enum Event<'a> {
    /// A generation of the connection starts: claims still enriching and waiting containers
    /// are void (the walk that follows dispatches them again); deliveries keep theirs.
    Started,
    /// The connection takes no promotions (shutdown, restart or reload under way).
    Stopped,
    /// No actor of the connection will use this dispatch again (removed, or moved to
    /// another destination at a reload): claims still enriching are void.
    Retired,
    /// A step is due: the machine says whether it walks the store or polls.
    StepDue(Step, Seen),
    /// A walk of the store begins.
    WalkBegins(Seen),
    /// A container to dispatch.
    Offered(&'a Container, Found, Seen),
    /// The step ended; `whole` is false when the enricher was gone before the end.
    StepEnded { seen: Seen, whole: bool },
    /// The claimed container is enriched and goes to delivery.
    Enriched(Ticket),
    /// Acknowledged (2xx) and completed in the store at `at`.
    Delivered {
        /// The claim.
        ticket: Ticket,
        /// When its completion was written.
        at: DateTime<Utc>,
        /// Whether the destination accepts notifications now.
        open: bool,
    },
    /// Left the store otherwise: dead-lettered, or found gone.
    Finished {
        /// The claim.
        ticket: Ticket,
        /// Whether the destination accepts notifications now.
        open: bool,
    },
    /// Its container stays pending (the destination stopped taking it, a delivery or hand
    /// over failed): dispatched again by a walk.
    LetGo {
        /// The claim.
        ticket: Ticket,
        /// Whether the destination accepts notifications now.
        open: bool,
    },
    /// The destination changed state.
    DestinationChanged(Seen),
    /// Containers went back to pending (dead letters an operator retried).
    Redispatch(Seen),
}

/// Something for the shell to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Run this step now.
    Run(Step),
    /// Send the container just offered, claimed by `ticket`, to the enricher; with
    /// `verify`, first check it is still pending (finish the claim if not).
    Enrich {
        /// The claim.
        ticket: Ticket,
        /// Read the store before sending.
        verify: bool,
    },
    /// The container just offered waits behind an earlier one of its key.
    Queued,
    /// Stop handing containers over: the connection is no longer caught up.
    Halt,
    /// The claimed container goes on to delivery.
    Deliver(Ticket),
    /// Read container `ticket.sequence` (next of its key) and, if still pending, enrich it.
    Promote(Ticket),
    /// Walk the store before the next poll, at once when no step is running.
    Walk,
    /// Offer a stored container to probe the failing destination.
    OfferProbe,
    /// Give back the destination's probe slot held by the probe of this token (its claim
    /// ended or was voided).
    ReleaseProbe(u64),
}

/// One connection's dispatch; see the module doc.
#[derive(Debug)]
pub struct Dispatch {
    order: DeliveryOrder,
    claims: ClaimTable,
    /// A generation of the connection runs and takes promotions.
    running: bool,
    /// Where a walk of the store caught up; pages are dispatched from memory only while it
    /// still holds.
    caught_up: Option<Mark>,
    /// A walk of the store is due before the next poll.
    walk_due: bool,
    /// The step under way.
    pass: Option<Pass>,
    /// The last 2xx for one of the connection's notifications.
    last_delivered: Option<DateTime<Utc>>,
}

impl Dispatch {
    /// The dispatch of a connection whose destination orders by `order`.
    pub fn new(order: DeliveryOrder) -> Self {
        Self {
            order,
            claims: ClaimTable::default(),
            running: false,
            caught_up: None,
            walk_due: false,
            pass: None,
            last_delivered: None,
        }
    }

    /// Takes `event`, answers what to do.
    pub fn on(&mut self, event: Event<'_>) -> Vec<Action> {
        match event {
            Event::Started => {
                let mut actions = self.void_undelivered();
                (self.running, self.caught_up, self.walk_due) = (true, None, false);
                self.pass = None;
                actions.push(Action::Run(Step::Walk));
                actions
            }
            Event::Stopped => {
                self.running = false;
                vec![]
            }
            Event::Retired => {
                self.running = false;
                self.void_undelivered()
            }
            Event::StepDue(step, seen) => vec![Action::Run(self.step_due(step, seen))],
            Event::WalkBegins(seen) => self.walk_begins(seen),
            Event::Offered(container, found, seen) => self.offered(container, found, seen),
            Event::StepEnded { seen, whole } => {
                self.step_ended(seen, whole);
                vec![]
            }
            Event::Enriched(ticket) => match self.claims.delivering(ticket) {
                true => vec![Action::Deliver(ticket)],
                false => vec![],
            },
            Event::Delivered { ticket, at, open } => {
                self.last_delivered = self.last_delivered.max(Some(at));
                self.finished(ticket, open)
            }
            Event::Finished { ticket, open } => self.finished(ticket, open),
            Event::LetGo { ticket, open } => self.let_go(ticket, open),
            Event::DestinationChanged(seen) => self.destination_changed(seen),
            Event::Redispatch(seen) => self.redispatch(seen),
        }
    }

    /// Whether a walk of the store became due while a step ran.
    pub fn walk_due(&self) -> bool {
        self.walk_due
    }

    /// The claim table, for looking (who is in flight, how many were let go).
    pub fn claims(&self) -> &ClaimTable {
        &self.claims
    }

    /// Whether `ticket`'s claim still holds.
    pub fn is_current(&self, ticket: Ticket) -> bool {
        self.claims.is_current(ticket)
    }

    /// When a notification of this connection was last delivered, if one was.
    pub fn last_delivered(&self) -> Option<DateTime<Utc>> {
        self.last_delivered
    }

    /// Whether this dispatch orders by `order`.
    pub fn orders_by(&self, order: &DeliveryOrder) -> bool {
        self.order == *order
    }

    /// The hash of the key `container` is ordered by; `None` without per-key order.
    pub fn key_of(&self, container: &Container) -> Option<u64> {
        match &self.order {
            DeliveryOrder::None => None,
            DeliveryOrder::PerKey { key_pointer } => Some(
                key_pointer
                    .as_deref()
                    .and_then(|pointer| container.change.pointer(pointer))
                    .filter(|value| !value.is_null())
                    .map_or_else(|| key_hash(&container.key), value_hash),
            ),
        }
    }

    /// Claims an offered container, unless the step's mark moved (then it stops handing
    /// over), it is in flight, or it waits behind its key.
    fn offered(&mut self, container: &Container, found: Found, seen: Seen) -> Vec<Action> {
        if !matches!(found, Found::Probe(_)) && !self.still_caught_up(seen) {
            return vec![Action::Halt];
        }
        let key = self.key_of(container);
        let probe = match found {
            Found::Probe(token) => Some(token),
            Found::Walk | Found::Page => None,
        };
        match self.claims.admit(container.sequence, key, probe) {
            Admission::Go(ticket) => vec![Action::Enrich {
                ticket,
                verify: found != Found::Page,
            }],
            Admission::Waits => vec![Action::Queued],
            Admission::Taken => vec![],
        }
    }

    /// Ends a claim whose container left the store; promotes the next of its key while the
    /// destination accepts notifications and the connection runs.
    fn finished(&mut self, ticket: Ticket, open: bool) -> Vec<Action> {
        let ended = self.claims.finish(ticket, open && self.running);
        let next = ended.next.map(Action::Promote);
        next.into_iter()
            .chain(ended.probe.map(Action::ReleaseProbe))
            .collect()
    }

    /// Ends a claim whose container stays pending; while the destination accepts
    /// notifications and the connection runs, the store is walked again.
    fn let_go(&mut self, ticket: Ticket, open: bool) -> Vec<Action> {
        let Some(ended) = self.claims.let_go(ticket) else {
            return vec![];
        };
        let mut actions: Vec<Action> = ended.probe.map(Action::ReleaseProbe).into_iter().collect();
        if open && self.running {
            actions.extend(self.walk_soon());
        }
        actions
    }

    /// Voids the claims still enriching, giving back the probe slots they held.
    fn void_undelivered(&mut self) -> Vec<Action> {
        let probes = self.claims.void_undelivered();
        probes.into_iter().map(Action::ReleaseProbe).collect()
    }
}

#[cfg(test)]
pub(crate) mod tests;
