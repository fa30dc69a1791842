//! The scaffold's driver: tokio-postgres 0.7 behind a deadpool-postgres 0.14 pool, with
//! statements prepared once per connection (`prepare_cached`). Per-row inserts are sent
//! without waiting for each answer (tokio-postgres pipelines concurrent queries on one
//! connection).

use std::error::Error;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Transaction};
use futures_util::future::try_join_all;
use tokio_postgres::types::ToSql;
use tokio_postgres::NoTls;

use crate::sql;
use crate::workload::{self, Insert, Rows, FENCE_EPOCH, FENCE_OWNER};

type BoxError = Box<dyn Error + Send + Sync>;

/// Opens a pool of `size` connections, recycled the scaffold's way (no query on checkout).
pub fn pool(url: &str, size: usize) -> Result<Pool, BoxError> {
    let config: tokio_postgres::Config = url.parse()?;
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Ok(Pool::builder(manager).max_size(size).build()?)
}

/// Opens all `size` connections at once and answers their server process ids.
pub async fn backends(pool: &Pool, size: usize) -> Result<Vec<i32>, BoxError> {
    let mut held = Vec::with_capacity(size);
    for _ in 0..size {
        held.push(pool.get().await?);
    }
    let mut pids = Vec::with_capacity(size);
    for client in &held {
        pids.push(
            client
                .query_one("SELECT pg_backend_pid()", &[])
                .await?
                .get(0),
        );
    }
    Ok(pids)
}

async fn fence(tx: &Transaction<'_>, connection: &str) -> Result<(), BoxError> {
    let statement = tx.prepare_cached(sql::FENCE).await?;
    match tx
        .query_opt(&statement, &[&connection, &FENCE_OWNER, &FENCE_EPOCH])
        .await?
    {
        Some(_) => Ok(()),
        None => Err(format!("fenced: {connection}").into()),
    }
}

/// One page commit of 100 containers; answers the rows written.
pub async fn page(pool: &Pool, connection: &str, insert: Insert) -> Result<u64, BoxError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    fence(&tx, connection).await?;
    let lock = tx.prepare_cached(sql::LOCK_STATE).await?;
    let state = tx.query_one(&lock, &[&connection]).await?;
    let next: i64 = state.try_get(1)?;
    let rows = workload::page(connection, next);
    let written = match insert {
        Insert::Unnest => {
            let statement = tx.prepare_cached(sql::PENDING_UNNEST).await?;
            tx.execute(
                &statement,
                &[
                    &connection,
                    &rows.sequences,
                    &rows.ids,
                    &rows.times,
                    &rows.blobs,
                ],
            )
            .await?
        }
        Insert::Rows => pending_rows(&tx, connection, &rows).await?,
    };
    let upsert = tx.prepare_cached(sql::UPSERT_STATE).await?;
    let cursor = workload::cursor(connection, next + workload::BATCH);
    tx.execute(&upsert, &[&connection, &cursor, &(next + workload::BATCH)])
        .await?;
    tx.commit().await?;
    Ok(written)
}

async fn pending_rows(
    tx: &Transaction<'_>,
    connection: &str,
    rows: &Rows,
) -> Result<u64, BoxError> {
    let statement = tx.prepare_cached(sql::PENDING_ROW).await?;
    let inserts = (0..rows.sequences.len()).map(|i| {
        let params: [&(dyn ToSql + Sync); 5] = [
            &connection,
            &rows.sequences[i],
            &rows.ids[i],
            &rows.times[i],
            &rows.blobs[i],
        ];
        tx.execute_raw(&statement, params)
    });
    Ok(try_join_all(inserts).await?.iter().sum())
}

/// One completion of sequences `first..first + 100`: delete them from pending, retain their
/// bodies; answers the rows completed.
pub async fn complete(
    pool: &Pool,
    connection: &str,
    first: i64,
    insert: Insert,
) -> Result<u64, BoxError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    fence(&tx, connection).await?;
    let rows = workload::completion(connection, first);
    let delete = tx.prepare_cached(sql::DELETE_PENDING).await?;
    let deleted = tx.execute(&delete, &[&connection, &rows.sequences]).await?;
    if deleted != rows.sequences.len() as u64 {
        return Err(format!(
            "{connection}: deleted {deleted} of {}",
            rows.sequences.len()
        )
        .into());
    }
    match insert {
        Insert::Unnest => {
            let statement = tx.prepare_cached(sql::RETAINED_UNNEST).await?;
            tx.execute(
                &statement,
                &[
                    &workload::DESTINATION,
                    &connection,
                    &rows.times,
                    &rows.sequences,
                    &rows.ids,
                    &rows.keys,
                    &rows.blobs,
                ],
            )
            .await?;
        }
        Insert::Rows => retained_rows(&tx, connection, &rows).await?,
    }
    tx.commit().await?;
    Ok(deleted)
}

async fn retained_rows(
    tx: &Transaction<'_>,
    connection: &str,
    rows: &Rows,
) -> Result<(), BoxError> {
    let statement = tx.prepare_cached(sql::RETAINED_ROW).await?;
    let inserts = (0..rows.sequences.len()).map(|i| {
        let params: [&(dyn ToSql + Sync); 7] = [
            &workload::DESTINATION,
            &rows.times[i],
            &connection,
            &rows.sequences[i],
            &rows.ids[i],
            &rows.keys[i],
            &rows.blobs[i],
        ];
        tx.execute_raw(&statement, params)
    });
    try_join_all(inserts).await?;
    Ok(())
}
