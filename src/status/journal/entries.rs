//! The entries the journal keeps and shows: a poll, a notification, an attempt, each a few
//! ids, numbers and times (no body, no patient detail).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};

/// A text shared by many entries (an event type, a destination id): one allocation for all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shared(pub(super) Arc<str>);

impl Shared {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Serialize for Shared {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// How a poll ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PollOutcome {
    /// A page was stored.
    Ok,
    /// The poll failed (the connection backs off).
    Failed,
}

/// One poll of a connection.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PollEntry {
    /// When it ended.
    pub at: DateTime<Utc>,
    /// Whether it stored a page.
    pub outcome: PollOutcome,
    /// Containers it created.
    pub changes: u32,
    /// How long it took, in milliseconds.
    pub duration_ms: u32,
    /// The error, as status shows it, when it failed.
    pub error: Option<Box<str>>,
}

/// Where a notification stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Stored, not yet attempted (or let go while its destination fails).
    Pending,
    /// An attempt failed; another follows.
    Retrying,
    /// Acknowledged with 2xx.
    Delivered,
    /// Given up: in the dead letters.
    DeadLetter,
}

/// One notification of a connection, from its container's creation on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NotificationEntry {
    /// Notification id.
    pub id: Box<str>,
    /// The connection's sequence number.
    pub sequence: u64,
    /// The changed record's identifier.
    pub key: Box<str>,
    /// The notification's `type`; `None` when it was first seen at an attempt and its body
    /// does not say.
    pub event_type: Option<Shared>,
    /// Where it goes.
    pub destination: Shared,
    /// Where it stands.
    pub outcome: Outcome,
    /// Attempts made so far (a replay's attempt counts too).
    pub attempts: u32,
    /// The status code of the last attempt that got an answer.
    pub last_status: Option<u16>,
    /// When it last changed.
    pub at: DateTime<Utc>,
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// Acknowledged with 2xx.
    Delivered,
    /// Anything else.
    Failed,
}

/// One attempt at a destination.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttemptEntry {
    /// When it started.
    pub at: DateTime<Utc>,
    /// The notification attempted.
    pub notification_id: Box<str>,
    /// Its connection.
    pub connection: Box<str>,
    /// Its sequence number.
    pub sequence: u64,
    /// The status answered, if any.
    pub status: Option<u16>,
    /// How long it took, in milliseconds.
    pub latency_ms: u32,
    /// Delivered or failed.
    pub outcome: AttemptOutcome,
    /// What went wrong, when it failed.
    pub error: Option<Box<str>>,
}

/// An attempt as the delivery worker reports it.
#[derive(Debug, Clone, Copy)]
pub struct Attempted<'a> {
    /// When it started.
    pub at: DateTime<Utc>,
    /// The status answered, if any.
    pub status: Option<u16>,
    /// How long it took.
    pub latency: std::time::Duration,
    /// The error, `None` when delivered.
    pub error: Option<&'a str>,
}

impl<'a> Attempted<'a> {
    /// The journal's view of an attempt's `outcome`, started `at`, that took `latency`.
    pub fn of(
        outcome: &'a crate::delivery::sender::AttemptOutcome,
        at: DateTime<Utc>,
        latency: std::time::Duration,
    ) -> Self {
        use crate::delivery::sender::AttemptOutcome as Sent;
        let (status, error) = match outcome {
            Sent::Delivered { status } => (Some(*status), None),
            Sent::Failed { status, error, .. } => (*status, Some(error.as_str())),
        };
        Self {
            at,
            status,
            latency,
            error,
        }
    }
}
