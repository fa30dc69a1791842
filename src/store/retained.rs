//! What the store keeps of delivered notifications for replay, and how a replay selects
//! them: the types every backend's retention speaks.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::model::Notification;

/// Where delivered notifications are kept: given to [`CompletionStore::complete`](super::CompletionStore::complete) when their
/// destination retains notifications.
#[derive(Debug, Clone, Copy)]
pub struct Retain<'a> {
    /// The destination they were delivered to.
    pub destination: &'a str,
    /// How long the destination keeps notifications (`retain_hours`).
    pub keep: Duration,
}

/// A notification its destination acknowledged, as [`CompletionStore::complete`](super::CompletionStore::complete) takes it: the delivery
/// time is what a replay's range selects on.
#[derive(Debug, Clone, Copy)]
pub struct Delivered<'a> {
    /// The notification exactly as it was delivered.
    pub notification: &'a Notification,
    /// When the destination acknowledged it.
    pub at: DateTime<Utc>,
}

/// One retained notification, as replay reads it.
#[derive(Debug, Clone)]
pub struct Retained {
    /// Destination, delivery time, connection and sequence.
    pub key: RetainedKey,
    /// The notification as it was delivered.
    pub notification: Notification,
}

/// Which retained notifications a replay reads: one destination, a delivery-time range, and
/// optionally one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetainedRange {
    /// The destination the notifications were delivered to.
    pub destination: String,
    /// Delivered at or after this time.
    pub since: DateTime<Utc>,
    /// Delivered before this time, when set.
    pub until: Option<DateTime<Utc>>,
    /// Only this connection's, when set.
    pub connection: Option<String>,
}

/// The parts of a retained notification's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetainedKey {
    /// Destination it was delivered to.
    pub destination: String,
    /// When it was delivered (millisecond precision).
    pub delivered_at: DateTime<Utc>,
    /// Connection that produced it.
    pub connection: String,
    /// Its sequence number.
    pub sequence: u64,
}

/// What a sweep deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Segment files deleted.
    pub segments: usize,
    /// Their size.
    pub bytes: u64,
}
