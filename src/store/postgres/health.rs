//! Whether the PostgreSQL store answers: a fault while the last database call could not reach
//! the database (`failure.rs`), so readiness and status show an outage; there is nothing to
//! flush, since every transaction is durable when it commits (`synchronous_commit`, on by
//! default), and nothing to re-open.

use deadpool_postgres::Pool;

use super::failure::{fail, Failure};
use super::PgStore;
use crate::store::health::StoreHealth;
use crate::store::traits::{ready, HealthStore, StoreFuture};

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

    /// Nothing to wait for: each commit was durable when it returned.
    fn flush(&self) -> StoreFuture<'_, ()> {
        ready(Ok(()))
    }
}
