//! Reading the pending containers from PostgreSQL (a page of one connection's, one container)
//! and the backlog counters: kept in memory for the connections this instance writes, loaded
//! from `pending` when it starts writing one, updated by every transaction that adds or
//! removes a pending container once it committed.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;

use super::failure::{fail, Failure};
use super::{decode, PgStore};
use crate::model::Container;
use crate::store::backlog::{Backlogs, Oldest};
use crate::store::traits::{PendingPage, PendingStore, StoreFuture};
use crate::store::StoreError;

/// A sequence as the database holds it (`bigint`); sequences never reach 2^63, and a bound
/// beyond that means "to the end".
pub(super) fn db_sequence(sequence: u64) -> i64 {
    i64::try_from(sequence).unwrap_or(i64::MAX)
}

/// How a pending container is named in an error: never by its content.
pub(super) fn describe(connection: &str, sequence: i64) -> String {
    format!("pending/{connection}/{sequence}")
}

/// Applies `update` to the counters once its transaction committed, on a blocking thread: a
/// backlog read holds the counters' lock while it waits for the database, so the database
/// runtime's own threads never wait for that lock.
pub(super) async fn counted(
    backlogs: Arc<Backlogs>,
    update: impl FnOnce(&Backlogs) + Send + 'static,
) {
    // Only a panic of `update` fails the task; the counters' lock survives poisoning.
    let _ = tokio::task::spawn_blocking(move || update(&backlogs)).await;
}

async fn read_page(
    pool: Pool,
    connection: String,
    from: i64,
    limit: usize,
) -> Result<PendingPage, Failure> {
    let client = pool.get().await.map_err(fail("connecting"))?;
    let statement = client
        .prepare_cached(
            "SELECT sequence, container FROM pending WHERE connection = $1 AND sequence >= $2 \
             ORDER BY sequence LIMIT $3",
        )
        .await
        .map_err(fail("reading pending containers"))?;
    let asked = i64::try_from(limit).unwrap_or(i64::MAX - 1) + 1;
    let rows = client
        .query(&statement, &[&connection, &from, &asked])
        .await
        .map_err(fail("reading pending containers"))?;
    let mut page = PendingPage::default();
    for row in rows {
        let sequence: i64 = row.get(0);
        if page.items.len() == limit {
            page.next = Some(sequence as u64);
            break;
        }
        let bytes: &[u8] = row.get(1);
        page.items
            .push(decode(&describe(&connection, sequence), bytes));
    }
    Ok(page)
}

async fn read_container(
    pool: Pool,
    connection: String,
    sequence: i64,
) -> Result<Option<Container>, Failure> {
    let client = pool.get().await.map_err(fail("connecting"))?;
    let statement = client
        .prepare_cached("SELECT container FROM pending WHERE connection = $1 AND sequence = $2")
        .await
        .map_err(fail("reading a pending container"))?;
    let row = client
        .query_opt(&statement, &[&connection, &sequence])
        .await
        .map_err(fail("reading a pending container"))?;
    let Some(row) = row else {
        return Ok(None);
    };
    let bytes: &[u8] = row.get(0);
    Ok(Some(decode(&describe(&connection, sequence), bytes)?))
}

async fn pending_at(pool: Pool, connection: String, sequence: i64) -> Result<bool, Failure> {
    let client = pool.get().await.map_err(fail("connecting"))?;
    let statement = client
        .prepare_cached("SELECT 1 FROM pending WHERE connection = $1 AND sequence = $2")
        .await
        .map_err(fail("reading a pending container"))?;
    let row = client
        .query_opt(&statement, &[&connection, &sequence])
        .await
        .map_err(fail("reading a pending container"))?;
    Ok(row.is_some())
}

/// The oldest pending container of `connection`: its sequence and detection time (one row of
/// the primary key's index). The time is the container's own, to the nanosecond, as the
/// counters keep it (the `detected_at` column has microseconds).
async fn oldest(pool: Pool, connection: String) -> Result<Option<Oldest>, Failure> {
    let client = pool.get().await.map_err(fail("connecting"))?;
    let statement = client
        .prepare_cached(
            "SELECT sequence, container FROM pending WHERE connection = $1 \
             ORDER BY sequence LIMIT 1",
        )
        .await
        .map_err(fail("reading the oldest pending container"))?;
    let row = client
        .query_opt(&statement, &[&connection])
        .await
        .map_err(fail("reading the oldest pending container"))?;
    let Some(row) = row else {
        return Ok(None);
    };
    let sequence: i64 = row.get(0);
    let container: Container = decode(&describe(&connection, sequence), row.get(1))?;
    Ok(Some((sequence as u64, container.detected_at)))
}

/// `connection`'s pending count and oldest container, read when this instance starts writing
/// it.
pub(super) async fn backlog_of(
    pool: Pool,
    connection: String,
) -> Result<(u64, Option<Oldest>), Failure> {
    let client = pool.get().await.map_err(fail("connecting"))?;
    let row = client
        .query_one(
            "SELECT count(*) FROM pending WHERE connection = $1",
            &[&connection],
        )
        .await
        .map_err(fail("counting pending containers"))?;
    let count: i64 = row.get(0);
    drop(client);
    let first = match count {
        0 => None,
        _ => oldest(pool, connection).await?,
    };
    Ok((count as u64, first))
}

/// Every connection's pending count, for a store without leases at open (as sled counts at
/// open).
pub(super) async fn count_all(pool: Pool) -> Result<HashMap<String, u64>, Failure> {
    let client = pool.get().await.map_err(fail("connecting"))?;
    let rows = client
        .query(
            "SELECT connection, count(*) FROM pending GROUP BY connection",
            &[],
        )
        .await
        .map_err(fail("counting pending containers"))?;
    Ok(rows
        .iter()
        .map(|row| (row.get::<_, String>(0), row.get::<_, i64>(1) as u64))
        .collect())
}

impl PendingStore for PgStore {
    fn pending_page<'a>(
        &'a self,
        connection: &'a str,
        from: u64,
        limit: usize,
    ) -> StoreFuture<'a, PendingPage> {
        let (connection, from) = (connection.to_owned(), db_sequence(from));
        Box::pin(self.run(move |pool| read_page(pool, connection.clone(), from, limit)))
    }

    fn is_pending<'a>(&'a self, connection: &'a str, sequence: u64) -> StoreFuture<'a, bool> {
        let (connection, sequence) = (connection.to_owned(), db_sequence(sequence));
        Box::pin(self.run(move |pool| pending_at(pool, connection.clone(), sequence)))
    }

    fn container<'a>(
        &'a self,
        connection: &'a str,
        sequence: u64,
    ) -> StoreFuture<'a, Option<Container>> {
        let (connection, sequence) = (connection.to_owned(), db_sequence(sequence));
        Box::pin(self.run(move |pool| read_container(pool, connection.clone(), sequence)))
    }

    /// From the counters; the oldest is read (blocking this thread, once after it left)
    /// under their lock.
    fn backlog(&self, connection: &str) -> Result<(u64, Option<DateTime<Utc>>), StoreError> {
        self.backlogs.read(connection, || {
            let connection = connection.to_owned();
            self.wait(move |pool| oldest(pool, connection.clone()))
        })
    }

    /// Of the connections this instance writes.
    fn pending_count(&self) -> usize {
        self.backlogs.total() as usize
    }
}
