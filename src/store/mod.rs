//! The durable state: per-connection cursor and sequence, pending containers, dead letters,
//! and delivered notifications retained for replay.
//!
//! Invariants this module keeps, whoever calls it:
//! - A poll's containers and its cursor advance are written in one transaction, so the
//!   cursor never moves past a change whose container is not stored.
//! - [`Store::commit_page`] returns only after the write is flushed to disk (one flush per
//!   page: a group commit).
//! - A FHIR resource type's cursor and the versions seen move in that same transaction too
//!   ([`Store::commit_fhir`]).
//! - Sequence numbers are gap-free per connection: they are assigned in that same transaction.
//! - A container leaves `containers` only by [`Store::complete`] (delivered) or
//!   [`Store::dead_letter`] (moved, in one transaction, to `dead_letters`); it comes back
//!   only by [`Store::retry_dead_letters`], under the same key (same id and sequence).
//! - A delivered notification is retained (when its destination keeps any) in the segment
//!   log just before its container is forgotten, so replay sends exactly what was delivered
//!   and a crash between the two only means one more same-id delivery.
//! - A store never opens behind its high-water marks ([`marks`]) unless the operator accepts
//!   it, and a damaged sled file is an error naming the store, not a panic ([`open`]).

mod dead_letters;
pub mod fhir;
mod flusher;
mod keys;
pub mod marks;
mod open;
mod retention;
mod segments;

pub use dead_letters::{DeadLetterFilter, DeadLetterPage, DeadLetterSelection};
pub use keys::RetainedKey;
pub use marks::{Regressions, Rollback, WentBackwards};
pub use open::Damaged;
pub use retention::{Delivered, Retain, Retained, RetainedRange, Swept};

use fhir::{Extra, ExtraTree};

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use flusher::Flusher;
use marks::{Committed, MarksFile};
use segments::SegmentLog;

use crate::model::{notification_id, ChangeItem, Container, CursorState, DeadLetter};

/// How often writes that are not flushed on the spot (a delivered container's removal) reach
/// the disk. A crash can re-send what was acknowledged in this window before it, with the
/// same ids. At 100 ms, the crash torture saw up to 870 duplicates per kill while a backlog
/// drained after an outage (seeds 1, 3, 7: 509–1,342 in all); at 20 ms, 82–236, for no
/// measurable CPU under load (`benches/cost.sh`) and 1.5 ms more CPU per idle second.
const BACKGROUND_FLUSH_MS: u64 = 20;

/// sled's page cache. Its default (1 GiB) let the cache of retained notifications grow the
/// process to ~600 MB under sustained load; pages beyond this are read back from disk (a
/// large recovery, a FHIR resource not seen for a while), which costs far less than the
/// memory. At 64 MiB a FHIR connection's versions seen (one record per resource, a tree that
/// only grows) held ~60 MB more than at 16 MiB, for the same CPU (BENCHMARKS.md).
const CACHE_BYTES: u64 = 16 * 1024 * 1024;

/// The directory inside the store's path that holds the retained notifications' segments
/// (sled leaves entries it does not know alone).
const RETAINED_DIR: &str = "retained";

/// The tree of each connection's [`ConnectionState`].
const CONNECTIONS_TREE: &str = "connections";

/// Why the store could not do what was asked; always an operator matter (disk, corruption).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled failed.
    #[error("store: {0}")]
    Sled(#[from] sled::Error),
    /// Writes could not be made durable (the disk refused a write or an fsync).
    #[error("store: flushing to disk failed: {0}")]
    Flush(String),
    /// The retained notifications' files could not be read or written.
    #[error("store: retained notifications: {0}")]
    Retained(#[from] std::io::Error),
    /// A stored record could not be read back. The reason gives the parser's position only:
    /// serde's own message can quote the stored value, which may be patient data.
    #[error("store: unreadable record under {key}: {reason}")]
    Corrupt {
        /// The key whose value failed to decode.
        key: String,
        /// What kind of decoding error, and where.
        reason: String,
    },
    /// The connection's stored state changed under a commit (two writers for one connection).
    #[error("store: the state of connection {0} changed during a commit")]
    Conflict(String),
    /// sled cannot open the store's files (it panicked, or reported a corruption).
    #[error(transparent)]
    Damaged(#[from] Damaged),
    /// The store's state is older than its high-water marks (see [`marks`]).
    #[error(transparent)]
    WentBackwards(#[from] WentBackwards),
}

/// What the store remembers about one connection between polls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionState {
    /// Where the next poll reads from.
    pub cursor: CursorState,
    /// The sequence number the next container gets.
    pub next_sequence: u64,
}

/// Handle to the sled database; cheap to clone and shared by every actor.
#[derive(Clone)]
pub struct Store {
    connections: sled::Tree,
    containers: sled::Tree,
    dead_letters: sled::Tree,
    /// The container of each dead letter, under the same key, for a retry.
    dead_containers: sled::Tree,
    /// Delivered notifications kept for replay, by destination and delivery time.
    retained: Arc<SegmentLog>,
    /// Makes writes durable, one flush for every caller waiting at the time.
    flusher: Arc<Flusher>,
    /// FHIR search and history cursors, per connection, resource type and track.
    fhir_cursors: sled::Tree,
    /// The last version seen of each FHIR resource, per connection (see [`fhir::Seen`]).
    fhir_seen: sled::Tree,
    /// Where each committed page's connection state is recorded for the high-water marks;
    /// `None` for a temporary store, which has none.
    marks: Option<Arc<Committed>>,
}

impl Store {
    /// Opens (or creates) the store in `path`, refusing one that went backwards.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(path, Rollback::Refuse)
    }

    /// Opens (or creates) the store in `path`; `rollback` says whether a store whose state
    /// is behind its high-water marks may open (an operator's decision: it lost data).
    pub fn open_with(path: &Path, rollback: Rollback) -> Result<Self, StoreError> {
        let (db, marks) = open::checked(path, rollback)?;
        Self::from_parts(db, SegmentLog::open(path.join(RETAINED_DIR))?, Some(marks))
    }

    /// A store that disappears when dropped, for `courier demo`.
    pub fn temporary() -> Result<Self, StoreError> {
        Self::from_parts(
            sled::Config::new().temporary(true).open()?,
            SegmentLog::temporary()?,
            None,
        )
    }

    fn from_parts(
        db: sled::Db,
        retained: SegmentLog,
        marks: Option<MarksFile>,
    ) -> Result<Self, StoreError> {
        retention::migrate_legacy(&db, &retained)?;
        let retained = Arc::new(retained);
        let committed = marks.as_ref().map(MarksFile::committed);
        let flusher = Flusher::start(db.clone(), Arc::clone(&retained), marks)?;
        Ok(Self {
            flusher: Arc::new(flusher),
            marks: committed,
            connections: db.open_tree(CONNECTIONS_TREE)?,
            containers: db.open_tree("containers")?,
            dead_letters: db.open_tree("dead_letters")?,
            dead_containers: db.open_tree("dead_letter_containers")?,
            retained,
            fhir_cursors: db.open_tree("fhir_cursors")?,
            fhir_seen: db.open_tree("fhir_seen")?,
        })
    }

    /// The connection's stored state, or its starting state when it never committed a page.
    pub fn connection_state(
        &self,
        connection: &str,
        initial_cursor: &str,
    ) -> Result<ConnectionState, StoreError> {
        match self.connections.get(connection.as_bytes())? {
            Some(bytes) => decode(connection, &bytes),
            None => Ok(ConnectionState {
                cursor: CursorState::initial(initial_cursor),
                next_sequence: 1,
            }),
        }
    }

    /// Makes a page durable: one container per item, numbered from the connection's next
    /// sequence, and the new cursor, in one transaction, flushed before returning.
    ///
    /// `expected` is the state the page was read from; if the stored state differs (another
    /// writer), nothing is written.
    pub async fn commit_page(
        &self,
        connection: &str,
        expected: &ConnectionState,
        items: &[ChangeItem],
        cursor: CursorState,
        event_type: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Container>, StoreError> {
        let containers: Vec<Container> = items
            .iter()
            .zip(expected.next_sequence..)
            .map(|(item, sequence)| Container {
                connection: connection.to_owned(),
                sequence,
                key: item.key.clone(),
                version: item.version.clone(),
                notification_id: notification_id(connection, &item.key, &item.version),
                event_type: event_type.to_owned(),
                detected_at: now,
                change: item.raw.clone(),
                fhir: None,
            })
            .collect();
        self.commit_containers(connection, expected, containers, cursor, Vec::new())
            .await
    }

    /// Writes `containers`, the connection's next state (with `cursor`) and `extra` records in
    /// one transaction, unless the stored state is no longer `expected`; then flushes.
    async fn commit_containers(
        &self,
        connection: &str,
        expected: &ConnectionState,
        containers: Vec<Container>,
        cursor: CursorState,
        extra: Vec<Extra>,
    ) -> Result<Vec<Container>, StoreError> {
        let next = ConnectionState {
            cursor,
            next_sequence: expected.next_sequence + containers.len() as u64,
        };
        let encoded: Vec<(Vec<u8>, Vec<u8>)> = containers
            .iter()
            .map(|c| (keys::container(connection, c.sequence), encode(c)))
            .collect();
        let next_bytes = encode(&next);
        let trees = (
            &self.connections,
            &self.containers,
            &self.fhir_cursors,
            &self.fhir_seen,
        );
        trees
            .transaction(|(states, pending, cursors, seen)| {
                let stored = states.get(connection.as_bytes())?;
                let unchanged = match &stored {
                    Some(bytes) => {
                        serde_json::from_slice::<ConnectionState>(bytes)
                            .ok()
                            .as_ref()
                            == Some(expected)
                    }
                    None => expected.next_sequence == 1,
                };
                if !unchanged {
                    return Err(ConflictableTransactionError::Abort(()));
                }
                for (key, value) in &encoded {
                    pending.insert(key.as_slice(), value.as_slice())?;
                }
                for record in &extra {
                    let tree = match record.tree {
                        ExtraTree::FhirCursors => cursors,
                        ExtraTree::FhirSeen => seen,
                    };
                    tree.insert(record.key.as_slice(), record.value.as_slice())?;
                }
                states.insert(connection.as_bytes(), next_bytes.as_slice())?;
                Ok(())
            })
            .map_err(|err| match err {
                TransactionError::Abort(()) => StoreError::Conflict(connection.to_owned()),
                TransactionError::Storage(e) => StoreError::Sled(e),
            })?;
        if let Some(marks) = &self.marks {
            marks.record(connection, &next);
        }
        self.flush_durably().await?;
        Ok(containers)
    }

    /// Pending containers of one connection with a sequence of at least `from`, in sequence
    /// order, read lazily so a large backlog is never loaded at once.
    pub fn pending(
        &self,
        connection: &str,
        from: u64,
    ) -> impl Iterator<Item = Result<Container, StoreError>> {
        let start = keys::container(connection, from);
        let end = keys::container_prefix_end(connection);
        self.containers.range(start..end).map(|entry| {
            let (key, value) = entry?;
            decode(&keys::describe(&key), &value)
        })
    }

    /// Whether a container is still waiting (not delivered nor dead-lettered).
    pub fn is_pending(&self, connection: &str, sequence: u64) -> Result<bool, StoreError> {
        Ok(self
            .containers
            .contains_key(keys::container(connection, sequence))?)
    }

    /// One pending container, if it is still pending.
    pub fn container(
        &self,
        connection: &str,
        sequence: u64,
    ) -> Result<Option<Container>, StoreError> {
        let key = keys::container(connection, sequence);
        match self.containers.get(&key)? {
            Some(bytes) => decode(&keys::describe(&key), &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// How many containers of one connection are pending, and when the oldest was detected.
    /// Counts keys without decoding them; only the oldest is read.
    pub fn backlog(&self, connection: &str) -> Result<(u64, Option<DateTime<Utc>>), StoreError> {
        let start = keys::container(connection, 0);
        let end = keys::container_prefix_end(connection);
        let mut range = self.containers.range(start..end);
        let Some(first) = range.next() else {
            return Ok((0, None));
        };
        let (key, value) = first?;
        let oldest: Container = decode(&keys::describe(&key), &value)?;
        let mut count = 1;
        for entry in range {
            entry?;
            count += 1;
        }
        Ok((count, Some(oldest.detected_at)))
    }

    /// Reads from the database, so readiness can tell an answering store from a broken one.
    pub fn check(&self) -> Result<(), StoreError> {
        self.connections.first()?;
        Ok(())
    }

    /// Number of containers waiting for enrichment or delivery, all connections together.
    pub fn pending_count(&self) -> usize {
        self.containers.len()
    }

    /// Forgets delivered containers and, with `retain`, first keeps the exact notifications
    /// that were delivered, for replay: all of them in one write, which is why deliveries are
    /// completed in batches (see [`crate::actors::completions`]). Not flushed on its own: after
    /// a crash, an unflushed removal only means one more (same-id) delivery.
    pub fn complete(
        &self,
        delivered: &[Delivered<'_>],
        retain: Option<Retain<'_>>,
    ) -> Result<(), StoreError> {
        // Kept first, then forgotten: a crash between the two leaves containers pending
        // (delivered again, same id) and their retained copies, which a replay sends once more
        // under the same id. (Not a sled transaction either way: one per delivered
        // notification, beside the pages' own, deadlocked sled 0.34 under load.)
        if let Some(retain) = retain {
            let span = segments::span_for(retain.keep);
            self.retained.append(retain.destination, span, delivered)?;
        }
        // Every removal is tried: one that fails leaves only its own container pending.
        let mut first_error = None;
        for delivered in delivered {
            let notification = delivered.notification;
            let key = keys::container(&notification.connection, notification.sequence);
            if let Err(err) = self.containers.remove(key) {
                first_error.get_or_insert(err);
            }
        }
        first_error.map_or(Ok(()), |err| Err(err.into()))
    }

    /// Moves a container whose retry schedule ran out to the dead letters, in one transaction.
    /// The container itself is kept beside its dead letter, so a retry restores it exactly,
    /// whatever format the body was rendered in.
    pub fn dead_letter(&self, letter: &DeadLetter) -> Result<(), StoreError> {
        let key = keys::container(&letter.connection, letter.sequence);
        let value = encode(letter);
        (&self.containers, &self.dead_letters, &self.dead_containers)
            .transaction(|(pending, dead, kept)| {
                if let Some(container) = pending.remove(key.as_slice())? {
                    kept.insert(key.as_slice(), container)?;
                }
                dead.insert(key.as_slice(), value.as_slice())?;
                Ok(())
            })
            .map_err(never_aborts)
    }

    /// Writes everything to disk; called at shutdown.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.flush_durably().await
    }

    /// Flushes on a thread of the store's own instead of with `flush_async`, which runs
    /// the flush on sled's own I/O threads: a flush holds sled's read lock while it waits for
    /// an I/O buffer to be written by one of those same threads, so with enough concurrent
    /// flushes (one per page of each connection) and a transaction waiting for the write
    /// lock, every I/O thread waited on a lock and the process hung (sled 0.34).
    ///
    /// The flush itself is the store's group commit ([`flusher`]): callers waiting at the same
    /// time share one flush.
    pub(crate) async fn flush_durably(&self) -> Result<(), StoreError> {
        self.flusher.flush().await.map_err(StoreError::Flush)
    }
}

/// The error of a transaction that never aborts by itself: only storage can fail it.
fn never_aborts(err: TransactionError<()>) -> StoreError {
    match err {
        TransactionError::Abort(()) => unreachable!("this transaction never aborts"),
        TransactionError::Storage(e) => StoreError::Sled(e),
    }
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("store records always serialize")
}

fn decode<T: for<'de> Deserialize<'de>>(key: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|err| StoreError::Corrupt {
        key: key.to_owned(),
        reason: format!(
            "{:?} error at line {} column {}",
            err.classify(),
            err.line(),
            err.column()
        ),
    })
}

#[cfg(test)]
mod tests;
