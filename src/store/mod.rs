//! The durable state: per-connection cursor and sequence, pending containers, dead letters,
//! and delivered notifications retained for replay; behind small traits ([`traits`]), so the
//! backend (sled, embedded; in memory, for tests) is chosen when the store opens.
//!
//! Invariants every backend keeps, whoever calls it, trait by trait:
//! - [`PageStore`]: a poll's containers and its cursor advance are written in one
//!   transaction, so the cursor never moves past a change whose container is not stored;
//!   `commit_page` returns only after the write is durable (one flush per page: a group
//!   commit); sequence numbers are gap-free per connection, assigned in that same
//!   transaction; a commit from a state that is no longer the stored one writes nothing.
//! - [`FhirStore`]: a FHIR resource type's cursor and the versions seen move in that same
//!   transaction too (`commit_fhir`).
//! - [`RecordStore`]: a record source's records (fingerprints, dedupe entries) move in that
//!   same transaction too (`commit_records`).
//! - [`PendingStore`]: pages in sequence order, one connection at a time; the backlog (count
//!   and oldest) is kept with the writes, initialised at open, never scanned per scrape.
//! - [`CompletionStore`]: a container leaves the pending ones only by `complete` (delivered)
//!   or `dead_letter` (moved, in one transaction, to the dead letters). A delivered
//!   notification is retained (when its destination keeps any) just before its container is
//!   forgotten, so replay sends exactly what was delivered and a crash between the two only
//!   means one more same-id delivery.
//! - [`DeadLetterStore`]: a dead letter comes back only by `retry_dead_letters`, under the
//!   same key (same id and sequence), in one transaction per letter.
//! - [`RetainedStore`]: replay reads the delivered bytes, in delivery order; a sweep deletes
//!   only what its destination no longer keeps.
//! - [`HealthStore`]: after a write fault (a full disk) no call reads or writes the files
//!   open at the time: they are re-opened from disk first, so nothing in memory runs ahead of
//!   what is durable; a walk begun on the old files stops.
//!
//! The sled backend ([`sled`]) adds: a store never opens behind its high-water marks
//! ([`sled::marks`]) unless the operator accepts it, and a damaged file is an error naming
//! the store, not a panic.

mod backlog;
pub(crate) mod codec;
mod containers;
pub mod copy;
mod dead_letters;
mod error;
mod health;
pub mod memory;
pub mod postgres;
mod retained;
pub mod sled;
pub mod traits;
mod walk;

#[cfg(test)]
pub(crate) mod contract;

pub use dead_letters::{DeadLetterFilter, DeadLetterPage, DeadLetterSelection};
pub use error::{
    EngineError, EngineFault, StoreError, EXIT_STORE_DAMAGED, EXIT_STORE_WENT_BACKWARDS,
};
pub use health::{StoreFault, StoreHealth};
pub use retained::{Delivered, Retain, Retained, RetainedKey, RetainedRange, Swept};
pub use sled::{marks, Damaged, Regressions, Rollback, WentBackwards};
pub use traits::{
    Backend, CompletionStore, ConnectionState, Cutoff, DeadLetterStore, FhirStore, HealthStore,
    PageStore, PendingPage, PendingStore, RecordStore, RetainedReader, RetainedStore, StoreFuture,
};
pub use walk::{PendingWalk, WALK_PAGE};

use std::ops::Deref;
use std::path::Path;
use std::sync::Arc;

use crate::config::PostgresConfig;
use memory::MemoryStore;
use postgres::{FencePolicy, PgStore};
use sled::SledStore;

/// Handle to the store; cheap to clone and shared by every actor. It derefs to the backend's
/// traits ([`Backend`]), so a call reads `store.commit_page(…)` whatever the backend is.
#[derive(Clone)]
pub struct Store {
    backend: Arc<dyn Backend>,
}

impl Deref for Store {
    type Target = dyn Backend;

    fn deref(&self) -> &Self::Target {
        &*self.backend
    }
}

impl Store {
    /// A store over `backend`, for a backend chosen at run time.
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        Self { backend }
    }

    /// Opens (or creates) the sled store in `path`, refusing one that went backwards.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(path, Rollback::Refuse)
    }

    /// Opens (or creates) the sled store in `path`; `rollback` says whether a store whose
    /// state is behind its high-water marks may open (an operator's decision: it lost data).
    pub fn open_with(path: &Path, rollback: Rollback) -> Result<Self, StoreError> {
        Ok(Self::new(Arc::new(SledStore::open_with(path, rollback)?)))
    }

    /// [`Store::open_with`], waiting out a full disk (see [`SledStore::open_when_room`]).
    pub fn open_when_room(path: &Path, rollback: Rollback) -> Result<Self, StoreError> {
        Ok(Self::new(Arc::new(SledStore::open_when_room(
            path, rollback,
        )?)))
    }

    /// A sled store that disappears when dropped, for `courier demo`.
    pub fn temporary() -> Result<Self, StoreError> {
        Ok(Self::new(Arc::new(SledStore::temporary()?)))
    }

    /// Opens the PostgreSQL store `config` names (creating or migrating its schema), with
    /// writes fenced by `policy`; answers the concrete store beside the handle, for the
    /// cluster, which grants and revokes its leases. Blocks the calling thread (start-up).
    pub fn postgres(
        config: &PostgresConfig,
        policy: FencePolicy,
    ) -> Result<(Self, Arc<PgStore>), StoreError> {
        let store = Arc::new(PgStore::open(config, policy)?);
        Ok((Self::new(store.clone()), store))
    }

    /// A store in memory only, with the same semantics, for unit tests.
    pub fn memory() -> Self {
        Self::new(Arc::new(MemoryStore::default()))
    }
}
