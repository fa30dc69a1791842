//! The copy's one transaction: lock the target's tables, refuse them unless empty, insert
//! every record of the sled store a batch at a time, check the row counts, commit.

use std::sync::Arc;

use chrono::DateTime;
use deadpool_postgres::{GenericClient, Pool, Transaction};

use super::rows::{
    ConnectionRows, DeadLetterRows, FhirCursorRows, PendingRows, RecordRows, RetainedRows, Rows,
    SeenRows,
};
use super::{Copied, CopyError};
use crate::store::postgres::db::db_error;
use crate::store::sled::export::Records;
use crate::store::sled::SledStore;
use crate::store::{RetainedRange, RetainedStore, StoreError};

/// Rows per `INSERT`: large enough that a statement's round trip is small beside its rows,
/// small enough that a batch of containers (a few KB each) stays a few MB in memory.
const BATCH: usize = 1000;

/// The tables a copy fills, each of which must be empty before it.
const TABLES: [&str; 7] = [
    ConnectionRows::TABLE,
    PendingRows::TABLE,
    DeadLetterRows::TABLE,
    FhirCursorRows::TABLE,
    SeenRows::TABLE,
    RetainedRows::TABLE,
    RecordRows::TABLE,
];

/// Copies everything `sled` holds into the schema `pool` connects to, in one transaction.
pub(super) async fn copy(pool: Pool, sled: Arc<SledStore>) -> Result<Copied, CopyError> {
    let mut client = pool.get().await.map_err(|e| db_error("connecting", e))?;
    let schema = query_one::<String>(&client, "SELECT current_schema()::text").await?;
    let tx = client
        .transaction()
        .await
        .map_err(|e| db_error("beginning the copy", e))?;
    // Nothing writes these tables until the copy commits or rolls back (an instance started
    // on the target too early waits, then finds the copy).
    tx.batch_execute(&format!(
        "LOCK TABLE {} IN EXCLUSIVE MODE",
        TABLES.join(", ")
    ))
    .await
    .map_err(|e| db_error("locking the tables", e))?;
    refuse_unless_empty(&tx, &schema).await?;
    let mut copied = Copied {
        schema,
        connections: insert_all::<ConnectionRows>(&tx, sled.export_connection_states()?).await?,
        pending: insert_all::<PendingRows>(&tx, sled.export_pending()?).await?,
        dead_letters: insert_all::<DeadLetterRows>(&tx, sled.export_dead_letters()?).await?,
        fhir_cursors: insert_all::<FhirCursorRows>(&tx, sled.export_fhir_cursors()?).await?,
        fhir_seen: insert_all::<SeenRows>(&tx, sled.export_fhir_seen()?).await?,
        records: insert_all::<RecordRows>(&tx, sled.export_records()?).await?,
        ..Copied::default()
    };
    insert_retained(&tx, &sled, &mut copied).await?;
    verify(&tx, &copied).await?;
    tx.commit()
        .await
        .map_err(|e| CopyError::Commit(db_error("committing the copy", e)))?;
    Ok(copied)
}

/// [`CopyError::NotEmpty`] when any of the tables holds a row.
async fn refuse_unless_empty(tx: &Transaction<'_>, schema: &str) -> Result<(), CopyError> {
    let mut holding = Vec::new();
    for table in TABLES {
        let sql = format!("SELECT EXISTS (SELECT 1 FROM {table})");
        if query_one::<bool>(tx, &sql).await? {
            holding.push(table);
        }
    }
    match holding.is_empty() {
        true => Ok(()),
        false => Err(CopyError::NotEmpty {
            schema: schema.to_owned(),
            tables: holding,
        }),
    }
}

/// Inserts every record of `records` into `R`'s table, a batch at a time; answers the
/// records read (what [`verify`] expects the table to hold).
async fn insert_all<R: Rows>(
    tx: &Transaction<'_>,
    records: Records<R::Record>,
) -> Result<u64, CopyError> {
    let mut read = 0;
    let mut batch = R::default();
    for record in records {
        batch.push(record?)?;
        read += 1;
        if batch.len() == BATCH {
            insert(tx, &std::mem::take(&mut batch)).await?;
        }
    }
    insert(tx, &batch).await?;
    Ok(read)
}

/// Inserts one batch; answers the rows inserted.
async fn insert<R: Rows>(tx: &Transaction<'_>, batch: &R) -> Result<u64, StoreError> {
    if batch.len() == 0 {
        return Ok(0);
    }
    let statement = tx
        .prepare_cached(R::INSERT)
        .await
        .map_err(|e| db_error(&format!("preparing the insert into {}", R::TABLE), e))?;
    tx.execute(&statement, &batch.columns())
        .await
        .map_err(|e| db_error(&format!("inserting into {}", R::TABLE), e))
}

/// Inserts every destination's retained notifications, read through the store's own replay
/// reader (every delivery time, every connection), in delivery order.
async fn insert_retained(
    tx: &Transaction<'_>,
    sled: &SledStore,
    copied: &mut Copied,
) -> Result<(), CopyError> {
    for destination in sled.retained_destinations()? {
        let mut reader = sled.read_retained(&RetainedRange {
            destination,
            since: DateTime::UNIX_EPOCH,
            until: None,
            connection: None,
        });
        loop {
            let page = reader.next_page(BATCH).await?;
            if page.is_empty() {
                break;
            }
            let read = page.len() as u64;
            let mut batch = RetainedRows::default();
            for retained in page {
                batch.push(retained)?;
            }
            let inserted = insert(tx, &batch).await?;
            copied.retained += inserted;
            copied.retained_duplicates += read - inserted;
        }
        copied.retained_damaged += reader.skipped();
        copied.retained_destinations += 1;
    }
    Ok(())
}

/// Checks, before the commit, that each table holds exactly the records read for it (the
/// retained ones less those held twice).
async fn verify(tx: &Transaction<'_>, copied: &Copied) -> Result<(), CopyError> {
    let expected = [
        copied.connections,
        copied.pending,
        copied.dead_letters,
        copied.fhir_cursors,
        copied.fhir_seen,
        copied.retained,
        copied.records,
    ];
    for (table, expected) in TABLES.into_iter().zip(expected) {
        let stored = query_one::<i64>(tx, &format!("SELECT count(*) FROM {table}")).await?;
        if u64::try_from(stored) != Ok(expected) {
            return Err(CopyError::Mismatch {
                table,
                stored,
                expected,
            });
        }
    }
    Ok(())
}

/// The one value `sql` answers.
async fn query_one<T>(client: &impl GenericClient, sql: &str) -> Result<T, StoreError>
where
    T: for<'a> tokio_postgres::types::FromSql<'a>,
{
    let row = client
        .query_one(sql, &[])
        .await
        .map_err(|e| db_error("reading the target", e))?;
    row.try_get(0)
        .map_err(|e| db_error("reading the target", e))
}
