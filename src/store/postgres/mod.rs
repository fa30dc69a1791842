//! The PostgreSQL backend: the store a cluster of instances shares. Every trait keeps the
//! sled backend's semantics; what differs is who may write. Writes of a connection's state
//! are fenced by its lease ([`fence`]), so only the instance holding the lease's epoch writes
//! it, checked in the write's own transaction.
//!
//! What each statement needs from the engine is in README ("Running a cluster"): read
//! committed with row locks (`FOR SHARE`, `FOR UPDATE`) is enough; nothing relies on advisory
//! locks or LISTEN/NOTIFY, so a PostgreSQL-compatible engine can hold the same schema.
//!
//! Module map: `pages.rs`, `fhir.rs` and `records.rs` commit pages, `pending.rs` reads them
//! and keeps the backlog counters, `completion.rs` completes and dead-letters containers,
//! `dead_letters.rs` holds the operator actions, `retained.rs` replay and sweeps,
//! `health.rs` the store's health; `failure.rs` says what a failed call means.

mod completion;
pub mod db;
mod dead_letters;
mod failure;
pub mod fence;
mod fhir;
mod health;
pub mod migrations;
mod pages;
mod pending;
mod records;
mod retained;
mod tls;

#[cfg(test)]
pub(crate) mod tests;

pub use db::Db;
pub use fence::{Fence, FencePolicy, Fences};

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::codec::{decode, encode};
use deadpool_postgres::Pool;

use crate::config::PostgresConfig;
use crate::store::backlog::Backlogs;
use crate::store::StoreError;
use failure::{Failure, Kind, Link};

/// Times a transaction that lost a race (serialization failure, deadlock) is tried in all.
const ATTEMPTS: usize = 4;

/// How long a synchronous call (a completion, a backlog read) waits for the database before
/// it counts as failed: a completion that fails is held with its claims and written again.
const SYNC_TIMEOUT: Duration = Duration::from_secs(5);

/// How long opening the store waits for its migrations (another instance may hold the
/// migrations table's lock while it migrates).
const OPEN_TIMEOUT: Duration = Duration::from_secs(120);

/// The PostgreSQL store of one instance.
pub struct PgStore {
    db: Db,
    /// The leases this instance holds: what it may write.
    fences: Fences,
    /// The backlog of the connections this instance writes: loaded when it takes one
    /// ([`PgStore::own`]), or every connection's at open without leases. Shared with the
    /// database tasks, which update it once their transaction committed.
    backlogs: Arc<Backlogs>,
    /// Whether the last database call reached the database.
    link: Arc<Link>,
}

impl PgStore {
    /// Connects, creates or migrates the schema, and answers the store. Without leases
    /// (`FencePolicy::SingleWriter`) it loads every connection's backlog, as sled does at
    /// open. Blocks the calling thread (start-up).
    pub fn open(config: &PostgresConfig, policy: FencePolicy) -> Result<Self, StoreError> {
        let db = Db::new(config)?;
        let migrating = db.clone();
        let version = db.wait(OPEN_TIMEOUT, |_| async move {
            migrations::migrate(&migrating).await
        })?;
        log::info!(
            "store: PostgreSQL schema {} at version {version}",
            db.schema()
        );
        let mut store = Self {
            db,
            fences: Fences::new(policy),
            backlogs: Arc::default(),
            link: Arc::default(),
        };
        if policy == FencePolicy::SingleWriter {
            // A count of every pending row: given the time a migration gets.
            let counting = store.db.wait(OPEN_TIMEOUT, |pool| async move {
                Ok(retrying(pool, pending::count_all).await)
            });
            let counts = settle(&store.link, counting)?;
            store.backlogs = Arc::new(Backlogs::new(counts));
        }
        Ok(store)
    }

    /// The database handle, for the cluster's members and leases.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The leases this instance holds.
    pub fn fences(&self) -> &Fences {
        &self.fences
    }

    /// Starts writing `connection` under `fence`: loads its backlog (count and oldest) from
    /// the database, then allows its writes. The cluster calls it once it holds the lease.
    pub fn own(
        &self,
        connection: &str,
        fence: Fence,
    ) -> impl Future<Output = Result<(), StoreError>> + Send + 'static {
        let connection = connection.to_owned();
        let (db, link) = (self.db.clone(), Arc::clone(&self.link));
        let (backlogs, fences) = (Arc::clone(&self.backlogs), self.fences.clone());
        async move {
            let key = connection.clone();
            let loaded = db
                .run(move |pool| async move { Ok(pending::backlog_of(pool, key).await) })
                .await;
            let (count, oldest) = settle(&link, loaded)?;
            backlogs.load(&connection, count, oldest);
            fences.grant(&connection, fence);
            Ok(())
        }
    }

    /// Stops writing `connection` at once (its lease is lost or handed back), then forgets its
    /// backlog.
    pub fn disown(&self, connection: &str) {
        self.fences.revoke(connection);
        self.backlogs.forget(connection);
    }

    /// Whether this instance keeps `connection`'s backlog: it writes it.
    fn tracks(&self, connection: &str) -> bool {
        self.fences.for_write(connection).is_ok()
    }

    /// Runs `work` on the database runtime, again when it lost a race, and notes whether the
    /// database answered.
    async fn run<T, F, Fut>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(Pool) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, Failure>> + Send + 'static,
    {
        run_on(&self.db, &self.link, work).await
    }

    /// [`PgStore::run`], blocking the calling thread for at most [`SYNC_TIMEOUT`]: for the
    /// store's synchronous answers.
    fn wait<T, F, Fut>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(Pool) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, Failure>> + Send + 'static,
    {
        let outcome = self.db.wait(SYNC_TIMEOUT, move |pool| async move {
            Ok(retrying(pool, work).await)
        });
        settle(&self.link, outcome)
    }
}

/// [`PgStore::run`] for readers that outlive a call (a replay's pages).
async fn run_on<T, F, Fut>(db: &Db, link: &Link, work: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: Fn(Pool) -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, Failure>> + Send + 'static,
{
    let outcome = db
        .run(move |pool| async move { Ok(retrying(pool, work).await) })
        .await;
    settle(link, outcome)
}

/// Runs `work` until it does not lose a race, [`ATTEMPTS`] times at most.
async fn retrying<T, F, Fut>(pool: Pool, work: F) -> Result<T, Failure>
where
    F: Fn(Pool) -> Fut,
    Fut: Future<Output = Result<T, Failure>>,
{
    let mut attempt = 1;
    loop {
        match work(pool.clone()).await {
            Err(failure) if failure.kind == Kind::Retry && attempt < ATTEMPTS => attempt += 1,
            outcome => return outcome,
        }
    }
}

/// What a database task answered, as the store answers it; `link` learns whether the database
/// was reached.
fn settle<T>(
    link: &Link,
    outcome: Result<Result<T, Failure>, StoreError>,
) -> Result<T, StoreError> {
    match outcome {
        Ok(Ok(value)) => {
            link.answered();
            Ok(value)
        }
        Ok(Err(Failure {
            error,
            kind: Kind::Link,
        })) => {
            link.lost(&error);
            Err(error)
        }
        Ok(Err(Failure { error, .. })) => {
            link.answered();
            Err(error)
        }
        // No answer in time, or the task failed.
        Err(error) => {
            link.lost(&error);
            Err(error)
        }
    }
}
