//! Delivered notifications kept for replay in PostgreSQL: written by `complete` (in its
//! transaction), read a page at a time in delivery order by keyset on the primary key
//! (destination, delivery time, connection, sequence), deleted by a sweep in batches.

use std::sync::Arc;

use actix_web::web::Bytes;
use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;

use super::failure::{fail, Failure, Link};
use super::{run_on, Db, PgStore};
use crate::model::Notification;
use crate::store::traits::{Cutoff, RetainedReader, RetainedStore, StoreFuture};
use crate::store::{Retained, RetainedKey, RetainedRange, Swept};

/// Rows one sweep statement deletes: a short transaction, however much expired.
const SWEEP_BATCH: i64 = 10_000;

/// Where a read stands: the key of the last notification it answered.
type Position = (DateTime<Utc>, String, i64);

async fn read_page(
    pool: Pool,
    range: Arc<RetainedRange>,
    after: Position,
    limit: i64,
) -> Result<Vec<Retained>, Failure> {
    let client = pool.get().await.map_err(fail("connecting"))?;
    let statement = client
        .prepare_cached(
            "SELECT delivered_at, connection, sequence, notification_id, key, body \
             FROM retained \
             WHERE destination = $1 AND delivered_at >= $2 \
               AND ($3::timestamptz IS NULL OR delivered_at < $3) \
               AND ($4::text IS NULL OR connection = $4) \
               AND (delivered_at, connection, sequence) > ($5, $6, $7) \
             ORDER BY delivered_at, connection, sequence LIMIT $8",
        )
        .await
        .map_err(fail("reading retained notifications"))?;
    let rows = client
        .query(
            &statement,
            &[
                &range.destination,
                &range.since,
                &range.until,
                &range.connection,
                &after.0,
                &after.1,
                &after.2,
                &limit,
            ],
        )
        .await
        .map_err(fail("reading retained notifications"))?;
    let retained = rows.iter().map(|row| {
        let (connection, sequence): (String, i64) = (row.get(1), row.get(2));
        Retained {
            key: RetainedKey {
                destination: range.destination.clone(),
                delivered_at: row.get(0),
                connection: connection.clone(),
                sequence: sequence as u64,
            },
            notification: Notification {
                id: row.get(3),
                connection,
                sequence: sequence as u64,
                key: row.get(4),
                body: Bytes::from(row.get::<_, Vec<u8>>(5)),
            },
        }
    });
    Ok(retained.collect())
}

/// A read of one destination's retained notifications, one page (one query) at a time.
struct Reader {
    db: Db,
    link: Arc<Link>,
    range: Arc<RetainedRange>,
    after: Position,
}

impl RetainedReader for Reader {
    fn next_page(&mut self, limit: usize) -> StoreFuture<'_, Vec<Retained>> {
        Box::pin(async move {
            let (range, after) = (Arc::clone(&self.range), self.after.clone());
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let page = run_on(&self.db, &self.link, move |pool| {
                read_page(pool, Arc::clone(&range), after.clone(), limit)
            })
            .await?;
            if let Some(last) = page.last() {
                let key = &last.key;
                self.after = (
                    key.delivered_at,
                    key.connection.clone(),
                    key.sequence as i64,
                );
            }
            Ok(page)
        })
    }

    /// Rows are checked by the database: nothing is ever skipped.
    fn skipped(&self) -> u64 {
        0
    }
}

async fn count(pool: Pool) -> Result<usize, Failure> {
    let client = pool.get().await.map_err(fail("connecting"))?;
    let row = client
        .query_one("SELECT count(*) FROM retained", &[])
        .await
        .map_err(fail("counting retained notifications"))?;
    Ok(row.get::<_, i64>(0) as usize)
}

/// The destinations that retain anything: a skip scan of the primary key's index, one
/// lookup per destination, not a read of every row.
async fn destinations(pool: Pool) -> Result<Vec<String>, Failure> {
    let client = pool.get().await.map_err(fail("connecting"))?;
    let rows = client
        .query(
            "WITH RECURSIVE d(destination) AS ( \
                 SELECT min(destination) FROM retained \
                 UNION ALL \
                 SELECT (SELECT min(destination) FROM retained WHERE destination > d.destination) \
                 FROM d WHERE d.destination IS NOT NULL) \
             SELECT destination FROM d WHERE destination IS NOT NULL",
            &[],
        )
        .await
        .map_err(fail("listing retained destinations"))?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// Deletes up to [`SWEEP_BATCH`] notifications of `destination` delivered before `cutoff`;
/// answers how many, and their bodies' size.
async fn sweep_batch(
    pool: Pool,
    destination: String,
    cutoff: DateTime<Utc>,
) -> Result<(u64, u64), Failure> {
    let client = pool.get().await.map_err(fail("connecting"))?;
    let statement = client
        .prepare_cached(
            "WITH gone AS ( \
                 DELETE FROM retained r USING ( \
                     SELECT delivered_at, connection, sequence FROM retained \
                     WHERE destination = $1 AND delivered_at < $2 \
                     ORDER BY delivered_at LIMIT $3) old \
                 WHERE r.destination = $1 AND r.delivered_at = old.delivered_at \
                   AND r.connection = old.connection AND r.sequence = old.sequence \
                 RETURNING octet_length(r.body) AS size) \
             SELECT count(*), COALESCE(sum(size), 0)::bigint FROM gone",
        )
        .await
        .map_err(fail("sweeping retained notifications"))?;
    let row = client
        .query_one(&statement, &[&destination, &cutoff, &SWEEP_BATCH])
        .await
        .map_err(fail("sweeping retained notifications"))?;
    Ok((row.get::<_, i64>(0) as u64, row.get::<_, i64>(1) as u64))
}

impl PgStore {
    /// Deletes, destination by destination and batch by batch, what each no longer keeps.
    /// A [`Swept`] segment is one notification here, as in the in-memory store.
    async fn sweep(&self, cutoff: Cutoff) -> Result<Swept, crate::store::StoreError> {
        let mut swept = Swept::default();
        for destination in self.run(destinations).await? {
            let before = cutoff(&destination);
            loop {
                let asked = destination.clone();
                let (rows, bytes) = self
                    .run(move |pool| sweep_batch(pool, asked.clone(), before))
                    .await?;
                swept.segments += rows as usize;
                swept.bytes += bytes;
                if rows < SWEEP_BATCH as u64 {
                    break;
                }
            }
        }
        Ok(swept)
    }
}

impl RetainedStore for PgStore {
    fn read_retained(&self, range: &RetainedRange) -> Box<dyn RetainedReader> {
        Box::new(Reader {
            db: self.db.clone(),
            link: Arc::clone(&self.link),
            after: (range.since, String::new(), -1),
            range: Arc::new(range.clone()),
        })
    }

    /// Counts every row.
    fn retained_count(&self) -> StoreFuture<'_, usize> {
        Box::pin(self.run(count))
    }

    fn sweep_retained(&self, cutoff: Cutoff) -> StoreFuture<'_, Swept> {
        Box::pin(self.sweep(cutoff))
    }
}
