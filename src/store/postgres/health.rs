//! Whether the PostgreSQL store answers: a fault while the last database call could not reach
//! the database (`failure.rs`), so readiness and status show an outage; a flush that makes
//! the completions committed before it durable; nothing to re-open.

use deadpool_postgres::Pool;

use super::failure::{fail, Failure};
use super::PgStore;
use crate::store::health::StoreHealth;
use crate::store::traits::{HealthStore, StoreFuture};

/// A transaction that writes a commit record and waits for it to reach the disk
/// (`synchronous_commit` on, the default): the WAL is flushed in order, so every completion
/// committed before it without waiting (`completion.rs`) is durable once it returns.
async fn flush_wal(pool: Pool) -> Result<(), Failure> {
    let mut client = pool.get().await.map_err(fail("connecting"))?;
    let tx = client
        .transaction()
        .await
        .map_err(fail("flushing the completions"))?;
    tx.execute("SELECT txid_current()", &[])
        .await
        .map_err(fail("flushing the completions"))?;
    tx.commit()
        .await
        .map_err(fail("flushing the completions"))?;
    Ok(())
}

async fn select_one(pool: Pool) -> Result<(), Failure> {
    let client = pool.get().await.map_err(fail("connecting"))?;
    client
        .execute("SELECT 1", &[])
        .await
        .map_err(fail("checking the database"))?;
    Ok(())
}

impl HealthStore for PgStore {
    fn health(&self) -> StoreHealth {
        self.link.health()
    }

    /// Never: a lost connection is replaced by the pool, and nothing in memory runs ahead
    /// of what the database committed.
    fn reopens(&self) -> u64 {
        0
    }

    fn epoch(&self) -> Option<u64> {
        Some(0)
    }

    fn check(&self) -> StoreFuture<'_, ()> {
        Box::pin(self.run(select_one))
    }

    /// Page commits, dead letters and operator actions were durable when they returned;
    /// completions become durable here.
    fn flush(&self) -> StoreFuture<'_, ()> {
        Box::pin(self.run(flush_wal))
    }
}
