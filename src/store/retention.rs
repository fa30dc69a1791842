//! Delivered notifications kept for replay: written by [`Store::complete`], read by time range
//! per destination, removed by a periodic sweep once older than their destination keeps them.
//!
//! A record holds the notification exactly as it was delivered (id, record key and body
//! bytes), so a replay signs and sends the same bytes under the same `webhook-id`. The value
//! is `<id length: u32 BE><id><key length: u32 BE><key><body>`: no JSON re-encoding of the
//! body on the delivery path.

use std::ops::Bound;

use actix_web::web::Bytes;
use chrono::{DateTime, Utc};

use super::keys::{self, RetainedKey};
use super::{Store, StoreError};
use crate::model::Notification;

/// Where and when a delivered notification is kept: given to [`Store::complete`] when its
/// destination retains notifications.
#[derive(Debug, Clone, Copy)]
pub struct Retain<'a> {
    /// The destination it was delivered to.
    pub destination: &'a str,
    /// When the destination acknowledged it.
    pub delivered_at: DateTime<Utc>,
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

/// The stored form of a delivered notification (see the module doc).
pub(super) fn encode(notification: &Notification) -> Vec<u8> {
    let (id, key) = (notification.id.as_bytes(), notification.key.as_bytes());
    let mut value = Vec::with_capacity(8 + id.len() + key.len() + notification.body.len());
    for part in [id, key] {
        let len = u32::try_from(part.len()).expect("ids and keys are far below 4 GiB");
        value.extend_from_slice(&len.to_be_bytes());
        value.extend_from_slice(part);
    }
    value.extend_from_slice(&notification.body);
    value
}

/// Reads a retained notification back; `None` for a value of another layout.
fn decode(key: RetainedKey, value: &[u8]) -> Option<Retained> {
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
    /// The retained notifications in `range`, oldest delivery first, read lazily.
    pub fn retained<'a>(
        &'a self,
        range: &'a RetainedRange,
    ) -> impl Iterator<Item = Result<Retained, StoreError>> + 'a {
        let start = keys::retained_from(&range.destination, range.since);
        let end = match range.until {
            Some(until) => Bound::Excluded(keys::retained_from(&range.destination, until)),
            None => Bound::Excluded(keys::retained_end(&range.destination)),
        };
        self.retained
            .range((Bound::Included(start), end))
            .filter_map(move |entry| {
                let (key, value) = match entry {
                    Ok(entry) => entry,
                    Err(err) => return Some(Err(err.into())),
                };
                let parsed = keys::parse_retained(&key);
                if let (Some(wanted), Some(parsed)) = (&range.connection, &parsed) {
                    if *wanted != parsed.connection {
                        return None;
                    }
                }
                Some(
                    parsed
                        .and_then(|parsed| decode(parsed, &value))
                        .ok_or_else(|| StoreError::Corrupt {
                            key: keys::describe(&key),
                            reason: "not a retained notification".into(),
                        }),
                )
            })
    }

    /// Number of retained notifications, every destination together.
    pub fn retained_count(&self) -> usize {
        self.retained.len()
    }

    /// Removes the retained notifications delivered before `cutoff(destination)`, for every
    /// destination that has any; returns how many were removed. Each destination's expired
    /// notifications are one range at the start of its key space.
    pub fn sweep_retained(
        &self,
        cutoff: impl Fn(&str) -> DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let mut removed = 0;
        let mut from = Vec::new();
        while let Some((key, _)) = self.retained.range(from.as_slice()..).next().transpose()? {
            let Some(parsed) = keys::parse_retained(&key) else {
                // Not ours: leave it, and move past it.
                from = key.to_vec();
                from.push(0);
                continue;
            };
            let destination = parsed.destination;
            let expired = keys::retained_from(&destination, DateTime::UNIX_EPOCH)
                ..keys::retained_from(&destination, cutoff(&destination));
            let mut batch = sled::Batch::default();
            for entry in self.retained.range(expired).keys() {
                batch.remove(entry?);
                removed += 1;
            }
            self.retained.apply_batch(batch)?;
            from = keys::retained_end(&destination);
        }
        Ok(removed)
    }
}
