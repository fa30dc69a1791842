//! Committing a page: its containers, the connection's cursor and next sequence (and for a
//! FHIR page its type's cursor and the versions seen, for a record page its records) in one
//! transaction, after the lease's fencing check and under the connection's row lock; durable
//! at commit.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use deadpool_postgres::{Pool, Transaction};

use super::failure::{fail, Failure};
use super::pending::{counted, db_sequence};
use super::records::{write_records, RecordWrites};
use super::{decode, encode, fence, Fence, PgStore};
use crate::model::{ChangeItem, Container, CursorState};
use crate::store::backlog::Backlogs;
use crate::store::containers;
use crate::store::traits::{ConnectionState, PageStore, StoreFuture};
use crate::store::StoreError;

/// What a FHIR page writes besides its containers.
pub(super) struct FhirRecords {
    /// The resource type whose cursor moves.
    pub type_name: String,
    /// Which of its cursors ([`crate::model::Track::name`]).
    pub track: &'static str,
    /// The type's cursor, encoded.
    pub cursor: Vec<u8>,
    /// The resource ids whose versions were seen, each once.
    pub seen_ids: Vec<String>,
    /// Their encoded [`crate::model::Seen`], in the same order.
    pub seen: Vec<Vec<u8>>,
}

/// Everything one page's transaction writes, encoded before it goes to the database.
pub(super) struct PageWrite {
    /// The connection whose page it is.
    pub connection: String,
    /// The lease the write needs; `None` without leases.
    pub fence: Option<Fence>,
    /// The state the page was read from: the stored one, or the commit is a conflict.
    pub expected: ConnectionState,
    /// The connection's cursor after the page, encoded.
    pub cursor: Vec<u8>,
    /// `expected.next_sequence` plus the page's containers: gap-free.
    pub next_sequence: i64,
    /// The containers as column arrays (one `UNNEST` insert): sequences, notification ids,
    /// detection times and the encoded containers, in sequence order.
    pub sequences: Vec<i64>,
    pub ids: Vec<String>,
    pub detected_at: Vec<DateTime<Utc>>,
    pub containers: Vec<Vec<u8>>,
    /// A FHIR page's own records.
    pub fhir: Option<FhirRecords>,
    /// A record page's records, written and forgotten.
    pub records: Option<RecordWrites>,
}

impl PageWrite {
    /// The write of `containers` from `expected` on, leaving the cursor at `cursor`.
    pub fn new(
        connection: &str,
        fence: Option<Fence>,
        expected: &ConnectionState,
        containers: &[Container],
        cursor: &CursorState,
    ) -> Self {
        Self {
            connection: connection.to_owned(),
            fence,
            expected: expected.clone(),
            cursor: encode(cursor),
            next_sequence: db_sequence(expected.next_sequence + containers.len() as u64),
            sequences: containers.iter().map(|c| db_sequence(c.sequence)).collect(),
            ids: containers
                .iter()
                .map(|c| c.notification_id.clone())
                .collect(),
            detected_at: containers.iter().map(|c| c.detected_at).collect(),
            containers: containers.iter().map(encode).collect(),
            fhir: None,
            records: None,
        }
    }
}

impl PgStore {
    /// Writes `write` in one transaction; answers `containers` once it committed.
    pub(super) async fn commit_write(
        &self,
        write: PageWrite,
        containers: Vec<Container>,
    ) -> Result<Vec<Container>, StoreError> {
        let write = Arc::new(write);
        let backlogs = Arc::clone(&self.backlogs);
        self.run(move |pool| write_page(pool, Arc::clone(&write), Arc::clone(&backlogs)))
            .await?;
        Ok(containers)
    }
}

/// The page's transaction, then its containers counted in the backlog.
async fn write_page(
    pool: Pool,
    write: Arc<PageWrite>,
    backlogs: Arc<Backlogs>,
) -> Result<(), Failure> {
    let mut client = pool.get().await.map_err(fail("connecting"))?;
    let tx = client
        .transaction()
        .await
        .map_err(fail("beginning a page's commit"))?;
    fence::check(&*tx, &write.connection, write.fence.as_ref()).await?;
    check_expected(&tx, &write).await?;
    let added = insert_containers(&tx, &write).await?;
    if let Some(fhir) = &write.fhir {
        write_fhir(&tx, &write.connection, fhir).await?;
    }
    if let Some(records) = &write.records {
        write_records(&tx, &write.connection, records).await?;
    }
    let statement = tx
        .prepare_cached(
            "INSERT INTO connection_state (connection, cursor, next_sequence) VALUES ($1, $2, $3) \
             ON CONFLICT (connection) DO UPDATE \
             SET cursor = EXCLUDED.cursor, next_sequence = EXCLUDED.next_sequence",
        )
        .await
        .map_err(fail("writing the connection's state"))?;
    tx.execute(
        &statement,
        &[&write.connection, &write.cursor, &write.next_sequence],
    )
    .await
    .map_err(fail("writing the connection's state"))?;
    tx.commit().await.map_err(fail("committing a page"))?;
    if let (Some(&first), Some(&at)) = (write.sequences.first(), write.detected_at.first()) {
        let connection = write.connection.clone();
        counted(backlogs, move |b| {
            b.added(&connection, first as u64, added, at)
        })
        .await;
    }
    Ok(())
}

/// Locks the connection's state row and compares it with what the page was read from, as
/// the sled store does: [`StoreError::Conflict`] when another writer moved it.
async fn check_expected(tx: &Transaction<'_>, write: &PageWrite) -> Result<(), Failure> {
    let statement = tx
        .prepare_cached(
            "SELECT cursor, next_sequence FROM connection_state WHERE connection = $1 FOR UPDATE",
        )
        .await
        .map_err(fail("reading the connection's state"))?;
    let stored = tx
        .query_opt(&statement, &[&write.connection])
        .await
        .map_err(fail("reading the connection's state"))?;
    let expected = &write.expected;
    let unchanged = match stored {
        Some(row) => {
            let cursor = decode::<CursorState>(&write.connection, row.get::<_, &[u8]>(0)).ok();
            let next_sequence: i64 = row.get(1);
            cursor.as_ref() == Some(&expected.cursor)
                && next_sequence == db_sequence(expected.next_sequence)
        }
        None => expected.next_sequence == 1,
    };
    match unchanged {
        true => Ok(()),
        false => Err(StoreError::Conflict(write.connection.clone()).into()),
    }
}

/// Inserts the page's containers in one statement; answers how many were new.
async fn insert_containers(tx: &Transaction<'_>, write: &PageWrite) -> Result<u64, Failure> {
    if write.sequences.is_empty() {
        return Ok(0);
    }
    // A key never holds a container already (sequences start at the stored next one); if it
    // did, the page's container replaces it, as in the sled store.
    let statement = tx
        .prepare_cached(
            "INSERT INTO pending (connection, sequence, notification_id, detected_at, container) \
             SELECT $1, * FROM UNNEST($2::bigint[], $3::text[], $4::timestamptz[], $5::bytea[]) \
             ON CONFLICT (connection, sequence) DO UPDATE \
             SET notification_id = EXCLUDED.notification_id, \
                 detected_at = EXCLUDED.detected_at, container = EXCLUDED.container",
        )
        .await
        .map_err(fail("writing containers"))?;
    tx.execute(
        &statement,
        &[
            &write.connection,
            &write.sequences,
            &write.ids,
            &write.detected_at,
            &write.containers,
        ],
    )
    .await
    .map_err(fail("writing containers"))
}

/// Writes a FHIR page's versions seen and its type's cursor.
async fn write_fhir(
    tx: &Transaction<'_>,
    connection: &str,
    fhir: &FhirRecords,
) -> Result<(), Failure> {
    if !fhir.seen_ids.is_empty() {
        let statement = tx
            .prepare_cached(
                "INSERT INTO fhir_seen (connection, type_name, id, seen) \
                 SELECT $1, $2, * FROM UNNEST($3::text[], $4::bytea[]) \
                 ON CONFLICT (connection, type_name, id) DO UPDATE SET seen = EXCLUDED.seen",
            )
            .await
            .map_err(fail("writing the versions seen"))?;
        tx.execute(
            &statement,
            &[&connection, &fhir.type_name, &fhir.seen_ids, &fhir.seen],
        )
        .await
        .map_err(fail("writing the versions seen"))?;
    }
    let statement = tx
        .prepare_cached(
            "INSERT INTO fhir_cursors (connection, type_name, track, cursor) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (connection, type_name, track) DO UPDATE SET cursor = EXCLUDED.cursor",
        )
        .await
        .map_err(fail("writing a FHIR cursor"))?;
    tx.execute(
        &statement,
        &[&connection, &fhir.type_name, &fhir.track, &fhir.cursor],
    )
    .await
    .map_err(fail("writing a FHIR cursor"))?;
    Ok(())
}

async fn read_state(pool: Pool, connection: String) -> Result<Option<ConnectionState>, Failure> {
    let client = pool.get().await.map_err(fail("connecting"))?;
    let statement = client
        .prepare_cached("SELECT cursor, next_sequence FROM connection_state WHERE connection = $1")
        .await
        .map_err(fail("reading the connection's state"))?;
    let row = client
        .query_opt(&statement, &[&connection])
        .await
        .map_err(fail("reading the connection's state"))?;
    let Some(row) = row else {
        return Ok(None);
    };
    let cursor = decode(&connection, row.get::<_, &[u8]>(0))?;
    let next_sequence: i64 = row.get(1);
    Ok(Some(ConnectionState {
        cursor,
        next_sequence: next_sequence as u64,
    }))
}

impl PageStore for PgStore {
    fn connection_state<'a>(
        &'a self,
        connection: &'a str,
        initial_cursor: &'a str,
    ) -> StoreFuture<'a, ConnectionState> {
        let key = connection.to_owned();
        Box::pin(async move {
            let stored = self.run(move |pool| read_state(pool, key.clone())).await?;
            Ok(stored.unwrap_or_else(|| ConnectionState::initial(initial_cursor)))
        })
    }

    fn commit_page<'a>(
        &'a self,
        connection: &'a str,
        expected: &'a ConnectionState,
        items: &'a [ChangeItem],
        cursor: CursorState,
        now: DateTime<Utc>,
    ) -> StoreFuture<'a, Vec<Container>> {
        Box::pin(async move {
            let fence = self.fences.for_write(connection)?;
            let first = expected.next_sequence;
            let containers = containers::of_items(connection, first, items, now);
            let write = PageWrite::new(connection, fence, expected, &containers, &cursor);
            self.commit_write(write, containers).await
        })
    }
}
