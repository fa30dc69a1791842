//! A record source's records in PostgreSQL (`records`, by connection, scope and key): read by
//! key in one statement, scanned a page at a time in key order (`COLLATE "C"`: bytes, as the
//! sled store's keys), and written or forgotten in the transaction of the page's containers
//! (`pages.rs`), under its fencing and `expected` checks.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use deadpool_postgres::{Pool, Transaction};
use tokio_postgres::types::ToSql;

use super::failure::{fail, Failure};
use super::pages::PageWrite;
use super::{decode, encode, PgStore};
use crate::model::{Container, RecordCommit, Recorded};
use crate::store::containers;
use crate::store::traits::{ConnectionState, RecordStore, StoreFuture};

/// What a record page writes besides its containers: each key once, the last change given
/// for it winning (as the sled and memory stores apply them in order).
pub(super) struct RecordWrites {
    /// The scope the records belong to.
    pub scope: String,
    /// The keys written, in key order.
    pub keys: Vec<String>,
    /// Their encoded [`Recorded`], in the same order.
    pub records: Vec<Vec<u8>>,
    /// The keys forgotten.
    pub forgotten: Vec<String>,
}

impl RecordWrites {
    /// The writes of a commit's `records` in `scope`.
    pub fn new(scope: String, records: Vec<(String, Option<Recorded>)>) -> Self {
        // One row per key: a statement cannot upsert the same row twice.
        let last: BTreeMap<String, Option<Recorded>> = records.into_iter().collect();
        let mut writes = Self {
            scope,
            keys: Vec::new(),
            records: Vec::new(),
            forgotten: Vec::new(),
        };
        for (key, record) in last {
            match record {
                Some(record) => {
                    writes.records.push(encode(&record));
                    writes.keys.push(key);
                }
                None => writes.forgotten.push(key),
            }
        }
        writes
    }
}

/// Upserts the page's written records and deletes its forgotten ones, in the page's
/// transaction.
pub(super) async fn write_records(
    tx: &Transaction<'_>,
    connection: &str,
    writes: &RecordWrites,
) -> Result<(), Failure> {
    if !writes.keys.is_empty() {
        let statement = tx
            .prepare_cached(
                "INSERT INTO records (connection, scope, key, record) \
                 SELECT $1, $2, * FROM UNNEST($3::text[], $4::bytea[]) \
                 ON CONFLICT (connection, scope, key) DO UPDATE SET record = EXCLUDED.record",
            )
            .await
            .map_err(fail("writing records"))?;
        let params: [&(dyn ToSql + Sync); 4] =
            [&connection, &writes.scope, &writes.keys, &writes.records];
        tx.execute(&statement, &params)
            .await
            .map_err(fail("writing records"))?;
    }
    if !writes.forgotten.is_empty() {
        let statement = tx
            .prepare_cached(
                "DELETE FROM records WHERE connection = $1 AND scope = $2 AND key = ANY($3)",
            )
            .await
            .map_err(fail("forgetting records"))?;
        tx.execute(&statement, &[&connection, &writes.scope, &writes.forgotten])
            .await
            .map_err(fail("forgetting records"))?;
    }
    Ok(())
}

/// Where a read looks: a connection's scope.
struct Scope {
    connection: String,
    scope: String,
}

impl Scope {
    fn new(connection: &str, scope: &str) -> Arc<Self> {
        Arc::new(Self {
            connection: connection.to_owned(),
            scope: scope.to_owned(),
        })
    }

    /// A stored record's bytes, decoded; an error names `<connection>/<scope>/<key>`.
    fn decode(&self, key: &str, bytes: &[u8]) -> Result<Recorded, Failure> {
        let what = format!("{}/{}/{key}", self.connection, self.scope);
        Ok(decode(&what, bytes)?)
    }
}

/// The stored records of `keys` in one statement, answered in the order of `keys`.
async fn lookup(
    pool: Pool,
    scope: Arc<Scope>,
    keys: Arc<Vec<String>>,
) -> Result<Vec<Option<Recorded>>, Failure> {
    let client = pool.get().await.map_err(fail("connecting"))?;
    let statement = client
        .prepare_cached(
            "SELECT key, record FROM records \
             WHERE connection = $1 AND scope = $2 AND key = ANY($3)",
        )
        .await
        .map_err(fail("reading records"))?;
    let rows = client
        .query(&statement, &[&scope.connection, &scope.scope, &*keys])
        .await
        .map_err(fail("reading records"))?;
    let mut found = HashMap::with_capacity(rows.len());
    for row in &rows {
        let key: String = row.get(0);
        let record = scope.decode(&key, row.get::<_, &[u8]>(1))?;
        found.insert(key, record);
    }
    Ok(keys.iter().map(|key| found.get(key).cloned()).collect())
}

/// Up to `limit` records of the scope after `after` (from its first when `None`), in key
/// order: a keyset page, which the primary key answers without a sort.
async fn scan(
    pool: Pool,
    scope: Arc<Scope>,
    after: Option<String>,
    limit: i64,
) -> Result<Vec<(String, Recorded)>, Failure> {
    let client = pool.get().await.map_err(fail("connecting"))?;
    let first = "SELECT key, record FROM records WHERE connection = $1 AND scope = $2 \
                 ORDER BY key LIMIT $3";
    let next = "SELECT key, record FROM records WHERE connection = $1 AND scope = $2 \
                AND key > $4 ORDER BY key LIMIT $3";
    let sql = if after.is_some() { next } else { first };
    let statement = client
        .prepare_cached(sql)
        .await
        .map_err(fail("scanning records"))?;
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&scope.connection, &scope.scope, &limit];
    params.extend(after.as_ref().map(|after| after as &(dyn ToSql + Sync)));
    let rows = client
        .query(&statement, &params)
        .await
        .map_err(fail("scanning records"))?;
    rows.iter()
        .map(|row| {
            let key: String = row.get(0);
            let record = scope.decode(&key, row.get::<_, &[u8]>(1))?;
            Ok((key, record))
        })
        .collect()
}

impl RecordStore for PgStore {
    fn records<'a>(
        &'a self,
        connection: &'a str,
        scope: &'a str,
        keys: &'a [String],
    ) -> StoreFuture<'a, Vec<Option<Recorded>>> {
        let (scope, keys) = (Scope::new(connection, scope), Arc::new(keys.to_vec()));
        Box::pin(self.run(move |pool| lookup(pool, Arc::clone(&scope), Arc::clone(&keys))))
    }

    fn scan_records<'a>(
        &'a self,
        connection: &'a str,
        scope: &'a str,
        after: Option<&'a str>,
        limit: usize,
    ) -> StoreFuture<'a, Vec<(String, Recorded)>> {
        let scope = Scope::new(connection, scope);
        let after = after.map(str::to_owned);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        Box::pin(self.run(move |pool| scan(pool, Arc::clone(&scope), after.clone(), limit)))
    }

    fn commit_records<'a>(
        &'a self,
        connection: &'a str,
        expected: &'a ConnectionState,
        commit: RecordCommit,
        now: DateTime<Utc>,
    ) -> StoreFuture<'a, Vec<Container>> {
        Box::pin(async move {
            let fence = self.fences.for_write(connection)?;
            let first = expected.next_sequence;
            let containers: Vec<Container> =
                containers::of_record_changes(connection, first, commit.changes, now);
            // A page that does not move the cursor leaves it where it was read.
            let cursor = commit.cursor.unwrap_or_else(|| expected.cursor.clone());
            let mut write = PageWrite::new(connection, fence, expected, &containers, &cursor);
            write.records = Some(RecordWrites::new(commit.scope, commit.records));
            self.commit_write(write, containers).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded(revision: u64) -> Recorded {
        Recorded {
            fingerprint: None,
            revision,
            date: None,
        }
    }

    #[test]
    fn the_last_change_of_a_key_wins_and_each_key_is_written_once() {
        let writes = RecordWrites::new(
            "".into(),
            vec![
                ("b".into(), Some(recorded(1))),
                ("a".into(), None),
                ("b".into(), None),
                ("a".into(), Some(recorded(2))),
            ],
        );
        assert_eq!(writes.keys, ["a"]);
        assert_eq!(writes.records, [encode(&recorded(2))]);
        assert_eq!(writes.forgotten, ["b"]);
    }
}
