//! The alternative: sqlx 0.9 (postgres, runtime-tokio) with its own pool and its per-connection
//! statement cache (every `sqlx::query` is prepared once per connection). sqlx has no
//! pipelining: a connection is `&mut` while a query runs, so per-row inserts wait for each
//! answer in turn.

use std::error::Error;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Postgres, Row, Transaction};

use crate::sql;
use crate::workload::{self, Insert, Rows, FENCE_EPOCH, FENCE_OWNER};

type BoxError = Box<dyn Error + Send + Sync>;

/// Opens a pool of `size` connections. `ping` keeps sqlx's default of pinging a connection on
/// every checkout; without it, checkout is free like deadpool's `RecyclingMethod::Fast`.
pub async fn pool(url: &str, size: usize, ping: bool) -> Result<PgPool, BoxError> {
    Ok(PgPoolOptions::new()
        .max_connections(u32::try_from(size)?)
        .min_connections(u32::try_from(size)?)
        .test_before_acquire(ping)
        .connect(url)
        .await?)
}

/// Opens all `size` connections at once and answers their server process ids.
pub async fn backends(pool: &PgPool, size: usize) -> Result<Vec<i32>, BoxError> {
    let mut held = Vec::with_capacity(size);
    for _ in 0..size {
        held.push(pool.acquire().await?);
    }
    let mut pids = Vec::with_capacity(size);
    for conn in &mut held {
        let row = sqlx::query("SELECT pg_backend_pid()")
            .fetch_one(&mut **conn)
            .await?;
        pids.push(row.try_get(0)?);
    }
    Ok(pids)
}

async fn fence(tx: &mut Transaction<'static, Postgres>, connection: &str) -> Result<(), BoxError> {
    let row = sqlx::query(sql::FENCE)
        .bind(connection)
        .bind(FENCE_OWNER)
        .bind(FENCE_EPOCH)
        .fetch_optional(&mut **tx)
        .await?;
    match row {
        Some(_) => Ok(()),
        None => Err(format!("fenced: {connection}").into()),
    }
}

fn times(rows: &Rows) -> Vec<DateTime<Utc>> {
    rows.times
        .iter()
        .map(|t| DateTime::<Utc>::from(*t))
        .collect()
}

/// One page commit of 100 containers; answers the rows written.
pub async fn page(pool: &PgPool, connection: &str, insert: Insert) -> Result<u64, BoxError> {
    let mut tx = pool.begin().await?;
    fence(&mut tx, connection).await?;
    let state = sqlx::query(sql::LOCK_STATE)
        .bind(connection)
        .fetch_one(&mut *tx)
        .await?;
    let next: i64 = state.try_get(1)?;
    let rows = workload::page(connection, next);
    let written = match insert {
        Insert::Unnest => sqlx::query(sql::PENDING_UNNEST)
            .bind(connection)
            .bind(&rows.sequences)
            .bind(&rows.ids)
            .bind(times(&rows))
            .bind(&rows.blobs)
            .execute(&mut *tx)
            .await?
            .rows_affected(),
        Insert::Rows => {
            let times = times(&rows);
            let mut written = 0;
            for (i, time) in times.iter().enumerate() {
                written += sqlx::query(sql::PENDING_ROW)
                    .bind(connection)
                    .bind(rows.sequences[i])
                    .bind(&rows.ids[i])
                    .bind(*time)
                    .bind(&rows.blobs[i])
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            }
            written
        }
    };
    sqlx::query(sql::UPSERT_STATE)
        .bind(connection)
        .bind(workload::cursor(connection, next + workload::BATCH))
        .bind(next + workload::BATCH)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(written)
}

/// One completion of sequences `first..first + 100`: delete them from pending, retain their
/// bodies; answers the rows completed.
pub async fn complete(
    pool: &PgPool,
    connection: &str,
    first: i64,
    insert: Insert,
) -> Result<u64, BoxError> {
    let mut tx = pool.begin().await?;
    fence(&mut tx, connection).await?;
    let rows = workload::completion(connection, first);
    let deleted = sqlx::query(sql::DELETE_PENDING)
        .bind(connection)
        .bind(&rows.sequences)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if deleted != rows.sequences.len() as u64 {
        return Err(format!(
            "{connection}: deleted {deleted} of {}",
            rows.sequences.len()
        )
        .into());
    }
    let times = times(&rows);
    match insert {
        Insert::Unnest => {
            sqlx::query(sql::RETAINED_UNNEST)
                .bind(workload::DESTINATION)
                .bind(connection)
                .bind(&times)
                .bind(&rows.sequences)
                .bind(&rows.ids)
                .bind(&rows.keys)
                .bind(&rows.blobs)
                .execute(&mut *tx)
                .await?;
        }
        Insert::Rows => {
            for (i, time) in times.iter().enumerate() {
                sqlx::query(sql::RETAINED_ROW)
                    .bind(workload::DESTINATION)
                    .bind(*time)
                    .bind(connection)
                    .bind(rows.sequences[i])
                    .bind(&rows.ids[i])
                    .bind(&rows.keys[i])
                    .bind(&rows.blobs[i])
                    .execute(&mut *tx)
                    .await?;
            }
        }
    }
    tx.commit().await?;
    Ok(deleted)
}
