//! The messages between actors.

use actix::{Message, Recipient};

use super::claims::Claim;
use crate::delivery::gate::Probe;
use crate::model::{Container, Notification};

/// Enrich one durable container. Answered once the enricher has room for it, which is how a
/// connection slows down when enrichment cannot keep up.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Enrich {
    /// The container.
    pub container: Container,
    /// Marks it as being worked on, so recovery does not dispatch it twice.
    pub claim: Claim,
    /// Set when it probes a failing destination.
    pub probe: Option<Probe>,
}

/// Deliver one notification. Answered once the destination has room for it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Deliver {
    /// The notification.
    pub notification: Notification,
    /// Released when delivery ends (delivered, dead-lettered, or abandoned).
    pub claim: Claim,
    /// Set when it probes a failing destination: it goes out although the destination does
    /// not accept notifications.
    pub probe: Option<Probe>,
    /// Told when the delivery ends without a verdict (a panic, a store failure), so the
    /// connection restarts and dispatches the still-pending container again.
    pub failed: Recipient<ConnectionFailed>,
}

/// Work of a connection failed hard (a panic, or a container left pending with nobody to
/// dispatch it): the connection restarts.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ConnectionFailed {
    /// The generation the failed work belonged to; `None` for work that outlives
    /// generations (delivery), which concerns whichever generation is current.
    pub generation: Option<u64>,
    /// What failed.
    pub reason: String,
    /// The failure was a write refused by the connection's fence (in a cluster: another
    /// instance holds its lease now): the connection stops here instead of restarting.
    pub fenced: bool,
}

/// Stop polling for shutdown; work already handed to delivery carries on.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopPolling;

/// What a released claim asks of its connection.
#[derive(Message)]
#[rtype(result = "()")]
pub enum Released {
    /// The container the claim names is next of its key: read it from the store and
    /// dispatch it.
    Next(Claim),
    /// A container was let go while the destination accepts notifications: it is pending and
    /// dispatched by nobody, so walk the store again.
    LetGo,
}

/// The connection's destination changed state (see its gate): while it does not accept
/// notifications, the connection keeps polling and storing without dispatching; when it does
/// again, the connection walks its stored backlog and dispatches it in sequence order.
#[derive(Message)]
#[rtype(result = "()")]
pub struct DestinationChanged;

/// Containers of the connection went back to pending (dead letters an operator retried):
/// walk the store again, so they go out in sequence order behind earlier containers of their
/// key, once the destination accepts notifications. Ignored while the connection restarts or
/// is stopped, since its next start walks the store anyway.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Redispatch;
