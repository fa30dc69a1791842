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
//! - After a write fault (a full disk) no call reads or writes the files open at the time:
//!   they are re-opened from disk first, so nothing in memory runs ahead of what is durable
//!   (see `reopen.rs`).
//! - A delivered notification is retained (when its destination keeps any) in the segment
//!   log just before its container is forgotten, so replay sends exactly what was delivered
//!   and a crash between the two only means one more same-id delivery.
//! - A store never opens behind its high-water marks ([`marks`]) unless the operator accepts
//!   it, and a damaged sled file is an error naming the store, not a panic ([`open`]).

mod current;
mod dead_letters;
mod delivered;
mod engine;
mod error;
pub mod fhir;
mod flusher;
mod keys;
pub mod marks;
mod open;
mod reopen;
mod retention;
mod segments;

pub use dead_letters::{DeadLetterFilter, DeadLetterPage, DeadLetterSelection};
pub use error::{StoreError, EXIT_STORE_DAMAGED, EXIT_STORE_WENT_BACKWARDS};
pub use keys::RetainedKey;
pub use marks::{Regressions, Rollback, WentBackwards};
pub use open::Damaged;
pub use reopen::{StoreFault, StoreHealth};
pub use retention::{Delivered, Retain, Retained, RetainedRange, Swept};

use fhir::{Extra, ExtraTree};

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use current::Current;
use engine::Engine;
use reopen::FaultState;

use crate::model::{notification_id, ChangeItem, Container, CursorState};

/// What the store remembers about one connection between polls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionState {
    /// Where the next poll reads from.
    pub cursor: CursorState,
    /// The sequence number the next container gets.
    pub next_sequence: u64,
}

/// Handle to the store; cheap to clone and shared by every actor. Every call goes to the
/// files open now; after a write fault there are none until they are re-opened (see
/// `reopen.rs`), and calls fail with [`StoreError::Unavailable`] meanwhile.
#[derive(Clone)]
pub struct Store {
    shared: Arc<Shared>,
}

/// What every handle shares.
struct Shared {
    /// Where the files are; `None` for a temporary store, which cannot be re-opened.
    path: Option<PathBuf>,
    /// The open files; `None` from a write fault until they are re-opened.
    engine: RwLock<Option<Arc<Engine>>>,
    faults: Mutex<FaultState>,
    /// Re-opens after write faults so far (see [`Store::reopens`]).
    reopens: AtomicU64,
}

impl Shared {
    fn read_engine(&self) -> RwLockReadGuard<'_, Option<Arc<Engine>>> {
        self.engine.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_engine(&self) -> RwLockWriteGuard<'_, Option<Arc<Engine>>> {
        self.engine.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn faults(&self) -> MutexGuard<'_, FaultState> {
        self.faults.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Store {
    /// Opens (or creates) the store in `path`, refusing one that went backwards.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(path, Rollback::Refuse)
    }

    /// Opens (or creates) the store in `path`; `rollback` says whether a store whose state
    /// is behind its high-water marks may open (an operator's decision: it lost data).
    pub fn open_with(path: &Path, rollback: Rollback) -> Result<Self, StoreError> {
        Ok(Self::with(
            Engine::open(path, rollback)?,
            Some(path.to_owned()),
        ))
    }

    /// A store that disappears when dropped, for `courier demo`.
    pub fn temporary() -> Result<Self, StoreError> {
        Ok(Self::with(Engine::temporary()?, None))
    }

    fn with(engine: Engine, path: Option<PathBuf>) -> Self {
        Self {
            shared: Arc::new(Shared {
                path,
                engine: RwLock::new(Some(Arc::new(engine))),
                faults: Mutex::default(),
                reopens: AtomicU64::new(0),
            }),
        }
    }

    /// The files open now, or why there are none.
    fn engine(&self) -> Result<Arc<Engine>, StoreError> {
        let engine = self.shared.read_engine().clone();
        engine.ok_or_else(|| {
            let faults = self.shared.faults();
            let error = faults.health.fault.as_ref().map(|f| f.error.clone());
            StoreError::Unavailable(error.unwrap_or_else(|| "an earlier write fault".into()))
        })
    }

    /// Passes on what a write to `engine` answered; a write fault takes those files out of
    /// service first, so nothing reads on from memory that may be ahead of the disk.
    fn observe<T>(
        &self,
        engine: &Arc<Engine>,
        result: Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if let Err(err) = &result {
            if err.is_write_fault() {
                self.shared.fail(engine, err);
            }
        }
        result
    }

    /// Takes the open files out of service as a write fault would, for tests of what callers
    /// do meanwhile (a real full disk needs a filesystem of the test's own: tests/it).
    #[cfg(test)]
    pub(crate) fn fail_for_test(&self) {
        let engine = self.engine().expect("the store is open");
        self.shared.fail(
            &engine,
            &StoreError::Flush("No space left on device (test)".into()),
        );
    }

    /// How many times the files were re-opened after a write fault. What was read before a
    /// re-open may no longer be what is stored: a connection caught up with the store walks
    /// it again, and a completion checks that it removes the container it delivered.
    pub fn reopens(&self) -> u64 {
        self.shared.reopens.load(Ordering::Acquire)
    }

    /// Whether the store answers, and the write fault that stopped it if not.
    pub fn health(&self) -> StoreHealth {
        self.shared.faults().health.clone()
    }

    /// The connection's stored state, or its starting state when it never committed a page.
    pub fn connection_state(
        &self,
        connection: &str,
        initial_cursor: &str,
    ) -> Result<ConnectionState, StoreError> {
        match self.engine()?.connections.get(connection.as_bytes())? {
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
        let engine = self.engine()?;
        let trees = (
            &engine.connections,
            &engine.containers,
            &engine.fhir_cursors,
            &engine.fhir_seen,
        );
        let written = trees
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
            });
        self.observe(&engine, written)?;
        if let Some(marks) = &engine.marks {
            marks.record(connection, &next);
        }
        self.flush_engine(&engine).await?;
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
        self.iterate(|engine| {
            engine.containers.range(start..end).map(|entry| {
                let (key, value) = entry?;
                decode(&keys::describe(&key), &value)
            })
        })
    }

    /// The items `read` finds in the open files, or one error when there are none.
    fn iterate<T, I>(
        &self,
        read: impl FnOnce(&Engine) -> I,
    ) -> impl Iterator<Item = Result<T, StoreError>>
    where
        I: Iterator<Item = Result<T, StoreError>>,
    {
        let (items, unavailable) = match self.engine() {
            Ok(engine) => {
                let items = read(&engine);
                (
                    Some(Current::new(Arc::clone(&self.shared), &engine, items)),
                    None,
                )
            }
            Err(err) => (None, Some(Err(err))),
        };
        items.into_iter().flatten().chain(unavailable)
    }

    /// Whether a container is still waiting (not delivered nor dead-lettered).
    pub fn is_pending(&self, connection: &str, sequence: u64) -> Result<bool, StoreError> {
        Ok(self
            .engine()?
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
        match self.engine()?.containers.get(&key)? {
            Some(bytes) => decode(&keys::describe(&key), &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// How many containers of one connection are pending, and when the oldest was detected.
    /// Counts keys without decoding them; only the oldest is read.
    pub fn backlog(&self, connection: &str) -> Result<(u64, Option<DateTime<Utc>>), StoreError> {
        let start = keys::container(connection, 0);
        let end = keys::container_prefix_end(connection);
        let mut range = self.engine()?.containers.range(start..end);
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

    /// Reads from the database, so readiness can tell an answering store from a broken one
    /// (and one out of service after a write fault).
    pub fn check(&self) -> Result<(), StoreError> {
        self.engine()?.connections.first()?;
        Ok(())
    }

    /// Number of containers waiting for enrichment or delivery, all connections together;
    /// for tests and the torture (0 while the store is out of service).
    pub fn pending_count(&self) -> usize {
        self.engine().map_or(0, |engine| engine.containers.len())
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
        self.flush_engine(&self.engine()?).await
    }

    /// Flushes `engine`, the files a caller just wrote to: a flush of files re-opened since
    /// would not cover those writes.
    async fn flush_engine(&self, engine: &Arc<Engine>) -> Result<(), StoreError> {
        let flushed = engine.flusher.flush().await.map_err(StoreError::Flush);
        self.observe(engine, flushed)
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
