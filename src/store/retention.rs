//! Delivered notifications kept for replay: written by [`Store::complete`] into the segment
//! log ([`super::segments`]), read by time range per destination, deleted a segment at a time
//! by a periodic sweep once older than their destination keeps them.
//!
//! A record holds the notification exactly as it was delivered (id, record key and body
//! bytes), so a replay signs and sends the same bytes under the same `webhook-id`.
//!
//! Stores written before the segment log kept retained notifications in a sled tree; they are
//! moved into the log when the store opens ([`migrate_legacy`]).

use std::time::Duration;

use actix_web::web::Bytes;
use chrono::{DateTime, Utc};

use super::keys::{self, RetainedKey};
use super::segments::{SegmentLog, MAX_SPAN_SECS};
pub use super::segments::{Skipped, Swept};
use super::{Store, StoreError};
use crate::model::Notification;

/// Where delivered notifications are kept: given to [`Store::complete`] when their
/// destination retains notifications.
#[derive(Debug, Clone, Copy)]
pub struct Retain<'a> {
    /// The destination they were delivered to.
    pub destination: &'a str,
    /// How long the destination keeps notifications (`retain_hours`).
    pub keep: Duration,
}

/// A notification its destination acknowledged, as [`Store::complete`] takes it: the delivery
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

/// The sled tree retained notifications were kept in before the segment log.
const LEGACY_TREE: &str = "retained";

/// Moves what an older store retained in sled into the segment log, then drops the tree; a
/// crash midway moves it again at the next start (replay may then send a few twice, with
/// their ids). Returns how many were moved.
pub(super) fn migrate_legacy(db: &sled::Db, log: &SegmentLog) -> Result<usize, StoreError> {
    if !db
        .tree_names()
        .iter()
        .any(|name| name.as_ref() == LEGACY_TREE.as_bytes())
    {
        return Ok(0);
    }
    let tree = db.open_tree(LEGACY_TREE)?;
    let mut moved = 0;
    for entry in tree.iter() {
        let (key, value) = entry?;
        let parsed = keys::parse_retained(&key).and_then(|key| legacy_decode(key, &value));
        let Some(Retained { key, notification }) = parsed else {
            return Err(StoreError::Corrupt {
                key: keys::describe(&key),
                reason: "not a retained notification".into(),
            });
        };
        // Their retention is not known here: the longest span, the fewest files.
        let delivered = Delivered {
            notification: &notification,
            at: key.delivered_at,
        };
        log.append(&key.destination, MAX_SPAN_SECS, &[delivered])?;
        moved += 1;
    }
    log.sync()?;
    db.drop_tree(LEGACY_TREE)?;
    if moved > 0 {
        log::info!("store: moved {moved} retained notifications into segment files");
    }
    Ok(moved)
}

/// Reads a value of the legacy tree: `<id length: u32 BE><id><key length: u32 BE><key><body>`.
fn legacy_decode(key: RetainedKey, value: &[u8]) -> Option<Retained> {
    let (id, rest) = split_part(value)?;
    let (record_key, body) = split_part(rest)?;
    Some(Retained {
        notification: Notification {
            id: String::from_utf8(id.to_vec()).ok()?,
            connection: key.connection.clone(),
            sequence: key.sequence,
            key: String::from_utf8(record_key.to_vec()).ok()?,
            body: Bytes::copy_from_slice(body),
        },
        key,
    })
}

fn split_part(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    let rest = &bytes[4..];
    (rest.len() >= len).then(|| rest.split_at(len))
}

impl Store {
    /// The retained notifications in `range`, in the order they were delivered, read lazily.
    pub fn retained<'a>(
        &'a self,
        range: &'a RetainedRange,
    ) -> impl Iterator<Item = Result<Retained, StoreError>> + 'a {
        self.retained_skipping(range).0
    }

    /// As [`Store::retained`], with the count of damaged stretches of segment files the
    /// reading skipped (each one notification or more; the log says where), for a replay to
    /// report.
    pub fn retained_skipping<'a>(
        &'a self,
        range: &'a RetainedRange,
    ) -> (
        impl Iterator<Item = Result<Retained, StoreError>> + 'a,
        Skipped,
    ) {
        let wanted = range.connection.as_deref();
        let (reader, skipped, unavailable) = match self.engine() {
            Ok(engine) => {
                let reader = engine
                    .retained
                    .read(&range.destination, range.since, range.until);
                let skipped = reader.skipped();
                (Some(reader), skipped, None)
            }
            Err(err) => (None, Skipped::default(), Some(Err(err))),
        };
        let records = reader
            .into_iter()
            .flatten()
            .map(|record| record.map_err(StoreError::from))
            .chain(unavailable)
            .filter(move |record| match (record, wanted) {
                (Ok(record), Some(wanted)) => record.key.connection == wanted,
                _ => true,
            });
        (records, skipped)
    }

    /// Number of retained notifications, every destination together. Reads every segment:
    /// for tests and diagnostics, not for a metric.
    pub fn retained_count(&self) -> Result<usize, StoreError> {
        let engine = self.engine()?;
        let mut count = 0;
        for destination in engine.retained.destinations()? {
            for record in engine
                .retained
                .read(&destination, DateTime::UNIX_EPOCH, None)
            {
                record?;
                count += 1;
            }
        }
        Ok(count)
    }

    /// Deletes the retained notifications of every destination whose segment ended before
    /// `cutoff(destination)`.
    pub fn sweep_retained(
        &self,
        cutoff: impl Fn(&str) -> DateTime<Utc>,
    ) -> Result<Swept, StoreError> {
        Ok(self.engine()?.retained.sweep(cutoff)?)
    }
}
