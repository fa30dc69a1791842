//! The PostgreSQL backend: the store a cluster of instances shares. Every trait keeps the
//! sled backend's semantics; what differs is who may write. Writes of a connection's state
//! are fenced by its lease ([`fence`]), so only the instance holding the lease's epoch writes
//! it, checked in the write's own transaction.
//!
//! What each statement needs from the engine is in README ("Running a cluster"): read
//! committed with row locks (`FOR SHARE`, `FOR UPDATE`) is enough; nothing relies on advisory
//! locks or LISTEN/NOTIFY, so a PostgreSQL-compatible engine can hold the same schema.

pub mod db;
pub mod fence;
pub mod migrations;
mod tls;

pub use db::Db;
pub use fence::{Fence, FencePolicy, Fences};

use crate::config::PostgresConfig;
use crate::store::backlog::Backlogs;
use crate::store::StoreError;

/// The PostgreSQL store of one instance.
pub struct PgStore {
    db: Db,
    /// The leases this instance holds: what it may write.
    fences: Fences,
    /// The backlog of the connections this instance owns, loaded when it takes one.
    #[allow(dead_code)] // SCAFFOLD: the trait implementations read it.
    backlogs: Backlogs,
}

impl PgStore {
    /// Connects, creates or migrates the schema, and answers the store; call outside any
    /// runtime (at start).
    pub fn open(config: &PostgresConfig, policy: FencePolicy) -> Result<Self, StoreError> {
        let db = Db::new(config)?;
        let version = db.block_on(|_| migrations::migrate(&db))?;
        log::info!(
            "store: PostgreSQL schema {} at version {version}",
            db.schema()
        );
        Ok(Self {
            db,
            fences: Fences::new(policy),
            backlogs: Backlogs::default(),
        })
    }

    /// The database handle, for the cluster's members and leases.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The leases this instance holds.
    pub fn fences(&self) -> &Fences {
        &self.fences
    }

    /// This instance took `connection`'s lease: its writes carry `fence` from now on.
    pub async fn own(&self, connection: &str, fence: Fence) -> Result<(), StoreError> {
        self.fences.grant(connection, fence);
        Ok(())
    }

    /// This instance no longer holds `connection`'s lease: its writes are refused at once.
    pub fn disown(&self, connection: &str) {
        self.fences.revoke(connection);
    }
}
