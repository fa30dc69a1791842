//! The sled backend: the store's traits over an embedded sled database, a segment log of
//! retained notifications beside it, a group-commit flusher, high-water marks, damage checks
//! and re-opens after write faults. No sled type leaves this module: its errors become
//! [`StoreError::Engine`] here (`errors.rs`).
//!
//! Beyond the traits' invariants (see [`super`]), this backend keeps:
//! - One flush per group of waiting commits (`flusher.rs`), on a thread of its own.
//! - After a write fault the files are re-opened in the background (`reopen.rs`); what was read
//!   before a re-open is checked again before a removal by key (`current.rs`).
//! - A store never opens behind its high-water marks ([`marks`]) unless the operator accepts
//!   it, and a damaged sled file is an error naming the store, not a panic (`open.rs`).

mod current;
mod dead_letters;
mod delivered;
mod engine;
mod errors;
pub(crate) mod export;
mod fhir;
mod flusher;
mod keys;
pub mod marks;
mod open;
mod pending;
mod records;
mod reopen;
mod retention;
mod segments;

pub use marks::{Regressions, Rollback, WentBackwards};
pub use open::Damaged;

use fhir::{Extra, ExtraTree};

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::codec::{decode, encode};
use chrono::{DateTime, Utc};
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use engine::Engine;
use reopen::FaultState;

use super::containers;
use super::traits::{ready, ConnectionState, PageStore, StoreFuture};
use super::StoreError;
use crate::model::{ChangeItem, Container, CursorState};

/// The sled store. Every call goes to the files open now; after a write fault there are none
/// until they are re-opened (see `reopen.rs`), and calls fail with
/// [`StoreError::Unavailable`] meanwhile.
pub struct SledStore {
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

impl SledStore {
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

    /// A store that disappears when dropped, for `courier demo` and tests.
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

    /// The connection's stored state, or its starting state when it never committed a page.
    fn stored_state(
        &self,
        connection: &str,
        initial_cursor: &str,
    ) -> Result<ConnectionState, StoreError> {
        match self.engine()?.connections.get(connection.as_bytes())? {
            Some(bytes) => decode(connection, &bytes),
            None => Ok(ConnectionState::initial(initial_cursor)),
        }
    }

    /// Makes a page durable: one container per item, numbered from the connection's next
    /// sequence, and the new cursor, in one transaction, flushed before returning.
    ///
    /// `expected` is the state the page was read from; if the stored state differs (another
    /// writer), nothing is written.
    async fn commit_items(
        &self,
        connection: &str,
        expected: &ConnectionState,
        items: &[ChangeItem],
        cursor: CursorState,
        now: DateTime<Utc>,
    ) -> Result<Vec<Container>, StoreError> {
        let first = expected.next_sequence;
        let containers = containers::of_items(connection, first, items, now);
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
            &engine.records,
        );
        let written = trees
            .transaction(|(states, pending, cursors, seen, records)| {
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
                let mut added = 0;
                for (key, value) in &encoded {
                    added += u64::from(pending.insert(key.as_slice(), value.as_slice())?.is_none());
                }
                for record in &extra {
                    let tree = match record.tree {
                        ExtraTree::FhirCursors => cursors,
                        ExtraTree::FhirSeen => seen,
                        ExtraTree::Records => records,
                    };
                    match &record.value {
                        Some(value) => tree.insert(record.key.as_slice(), value.as_slice())?,
                        None => tree.remove(record.key.as_slice())?,
                    };
                }
                states.insert(connection.as_bytes(), next_bytes.as_slice())?;
                Ok(added)
            })
            .map_err(|err| match err {
                TransactionError::Abort(()) => StoreError::Conflict(connection.to_owned()),
                TransactionError::Storage(e) => e.into(),
            });
        let added = self.observe(&engine, written)?;
        if let Some(first) = containers.first() {
            let (sequence, at) = (first.sequence, first.detected_at);
            engine.backlogs.added(connection, sequence, added, at);
        }
        if let Some(marks) = &engine.marks {
            marks.record(connection, &next);
        }
        self.flush_engine(&engine).await?;
        Ok(containers)
    }

    /// Flushes on a thread of the store's own instead of with `flush_async`, which runs
    /// the flush on sled's own I/O threads: a flush holds sled's read lock while it waits for
    /// an I/O buffer to be written by one of those same threads, so with enough concurrent
    /// flushes (one per page of each connection) and a transaction waiting for the write
    /// lock, every I/O thread waited on a lock and the process hung (sled 0.34).
    ///
    /// The flush itself is the store's group commit ([`flusher`]): callers waiting at the same
    /// time share one flush.
    async fn flush_durably(&self) -> Result<(), StoreError> {
        self.flush_engine(&self.engine()?).await
    }

    /// Flushes `engine`, the files a caller just wrote to: a flush of files re-opened since
    /// would not cover those writes.
    async fn flush_engine(&self, engine: &Arc<Engine>) -> Result<(), StoreError> {
        let flushed = engine.flusher.flush().await.map_err(StoreError::Flush);
        self.observe(engine, flushed)
    }
}

impl PageStore for SledStore {
    fn connection_state<'a>(
        &'a self,
        connection: &'a str,
        initial_cursor: &'a str,
    ) -> StoreFuture<'a, ConnectionState> {
        ready(self.stored_state(connection, initial_cursor))
    }

    fn commit_page<'a>(
        &'a self,
        connection: &'a str,
        expected: &'a ConnectionState,
        items: &'a [ChangeItem],
        cursor: CursorState,
        now: DateTime<Utc>,
    ) -> StoreFuture<'a, Vec<Container>> {
        Box::pin(self.commit_items(connection, expected, items, cursor, now))
    }
}

/// The error of a transaction that never aborts by itself: only storage can fail it.
fn never_aborts(err: TransactionError<()>) -> StoreError {
    match err {
        TransactionError::Abort(()) => unreachable!("this transaction never aborts"),
        TransactionError::Storage(e) => e.into(),
    }
}

#[cfg(test)]
mod tests;
