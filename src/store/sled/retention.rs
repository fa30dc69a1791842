//! Delivered notifications kept for replay: written by `complete` into the segment
//! log ([`super::segments`]), read by time range per destination, deleted a segment at a time
//! by a periodic sweep once older than their destination keeps them.
//!
//! A record holds the notification exactly as it was delivered (id, record key and body
//! bytes), so a replay signs and sends the same bytes under the same `webhook-id`.
//!
//! Stores written before the segment log kept retained notifications in a sled tree; they are
//! moved into the log when the store opens ([`migrate_legacy`]).

use std::sync::Arc;

use actix_web::web::Bytes;
use chrono::DateTime;

use super::keys;
use super::segments::{SegmentLog, SegmentReader, Skipped, MAX_SPAN_SECS};
use super::{ready, SledStore};
use crate::model::Notification;
use crate::store::traits::{Cutoff, RetainedReader, RetainedStore, StoreFuture};
use crate::store::{Delivered, Retained, RetainedKey, RetainedRange, StoreError, Swept};

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

impl RetainedStore for SledStore {
    fn read_retained(&self, range: &RetainedRange) -> Box<dyn RetainedReader> {
        let (segments, skipped, unavailable) = match self.engine() {
            Ok(engine) => {
                let reader = engine
                    .retained
                    .read(&range.destination, range.since, range.until);
                let skipped = reader.skipped();
                (Some(reader), skipped, None)
            }
            Err(err) => (None, Skipped::default(), Some(err)),
        };
        Box::new(Reader {
            segments,
            unavailable,
            connection: range.connection.clone(),
            skipped,
        })
    }

    /// Reads every segment.
    fn retained_count(&self) -> StoreFuture<'_, usize> {
        ready(self.engine().and_then(|engine| count(&engine.retained)))
    }

    /// Runs on a blocking thread: it lists and deletes files.
    fn sweep_retained(&self, cutoff: Cutoff) -> StoreFuture<'_, Swept> {
        let engine = self.engine();
        Box::pin(async move {
            let retained = Arc::clone(&engine?.retained);
            let swept = actix_rt::task::spawn_blocking(move || retained.sweep(cutoff)).await;
            match swept {
                Ok(swept) => Ok(swept?),
                Err(err) => Err(StoreError::Retained(std::io::Error::other(err.to_string()))),
            }
        })
    }
}

/// Number of retained notifications in `log`, every destination together.
fn count(log: &SegmentLog) -> Result<usize, StoreError> {
    let mut count = 0;
    for destination in log.destinations()? {
        for record in log.read(&destination, DateTime::UNIX_EPOCH, None) {
            record?;
            count += 1;
        }
    }
    Ok(count)
}

/// A read of one destination's segments, one page at a time.
struct Reader {
    /// `None` when the store was out of service at the start.
    segments: Option<SegmentReader>,
    /// Why there are no segments to read, answered once.
    unavailable: Option<StoreError>,
    /// Only this connection's notifications, when set.
    connection: Option<String>,
    skipped: Skipped,
}

impl Reader {
    fn page(&mut self, limit: usize) -> Result<Vec<Retained>, StoreError> {
        if let Some(err) = self.unavailable.take() {
            return Err(err);
        }
        let Some(segments) = self.segments.as_mut() else {
            return Ok(Vec::new());
        };
        let wanted = self.connection.as_deref();
        let mut page = Vec::new();
        while page.len() < limit {
            let Some(record) = segments.next() else {
                break;
            };
            let record = record?;
            if wanted.is_none_or(|wanted| record.key.connection == wanted) {
                page.push(record);
            }
        }
        Ok(page)
    }
}

impl RetainedReader for Reader {
    fn next_page(&mut self, limit: usize) -> StoreFuture<'_, Vec<Retained>> {
        ready(self.page(limit))
    }

    fn skipped(&self) -> u64 {
        self.skipped.count()
    }
}
