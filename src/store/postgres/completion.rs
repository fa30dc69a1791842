//! What becomes of a container once its notification went out, in PostgreSQL: forgotten when
//! delivered (retained for replay in the same transaction), moved to the dead letters when its
//! schedule ran out. Both are fenced: a connection whose lease this instance lost is left to
//! its new owner.
//!
//! A completion commits without waiting for the WAL to reach the disk (`synchronous_commit =
//! off` for its transaction only): its removals are durable with the next flush, as the
//! trait says, and the delivery workers it blocks are not held for an fsync.
//!
//! `complete` answers synchronously: the completion shell (`actors/completions.rs`) writes a
//! batch with `now_or_never`, also when a worker stops, and counts a store that must wait as a
//! failed write. So this backend blocks the calling thread on its database runtime, for at
//! most [`super::SYNC_TIMEOUT`] (one transaction of a batch: about a millisecond). An
//! asynchronous completion path is a follow-up.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use deadpool_postgres::{Pool, Transaction};

use super::failure::{fail, Failure};
use super::pending::{counted, db_sequence};
use super::{encode, fence, Fence, PgStore};
use crate::model::DeadLetter;
use crate::store::backlog::Backlogs;
use crate::store::traits::{ready, CompletionStore, StoreFuture};
use crate::store::{Delivered, Retain, StoreError};

/// One batch of completions, as the database takes it: column arrays.
struct Completion {
    /// The leases to check, per connection of the batch (empty without leases).
    leases: Leases,
    /// The delivered notifications' keys and ids: a container is forgotten only while its
    /// key still holds that id.
    connections: Vec<String>,
    sequences: Vec<i64>,
    ids: Vec<String>,
    /// The destination the batch was delivered to, when it retains notifications.
    destination: Option<String>,
    /// What is retained of each (empty without retention): delivery time (to the
    /// millisecond), record key and the exact body bytes delivered.
    delivered_at: Vec<DateTime<Utc>>,
    keys: Vec<String>,
    bodies: Vec<Vec<u8>>,
}

/// The leases a batch spanning connections needs, as column arrays.
#[derive(Default)]
struct Leases {
    connections: Vec<String>,
    owners: Vec<String>,
    epochs: Vec<i64>,
}

impl Completion {
    fn new(delivered: &[Delivered<'_>], retain: Option<Retain<'_>>, leases: Leases) -> Self {
        let notifications = delivered.iter().map(|d| d.notification);
        // Kept at the millisecond, as the sled store's segment files keep it.
        let at = |d: &Delivered<'_>| {
            DateTime::from_timestamp_millis(d.at.timestamp_millis()).unwrap_or(d.at)
        };
        let retained = retain.is_some();
        Self {
            leases,
            connections: notifications
                .clone()
                .map(|n| n.connection.clone())
                .collect(),
            sequences: notifications
                .clone()
                .map(|n| db_sequence(n.sequence))
                .collect(),
            ids: notifications.clone().map(|n| n.id.clone()).collect(),
            destination: retain.map(|r| r.destination.to_owned()),
            delivered_at: match retained {
                true => delivered.iter().map(at).collect(),
                false => Vec::new(),
            },
            keys: match retained {
                true => notifications.clone().map(|n| n.key.clone()).collect(),
                false => Vec::new(),
            },
            bodies: match retained {
                true => notifications.map(|n| n.body.to_vec()).collect(),
                false => Vec::new(),
            },
        }
    }
}

impl PgStore {
    /// The leases of the batch's connections; a connection this instance no longer writes is
    /// left out of the batch (`None` when none is left).
    fn batch_leases<'a>(
        &self,
        delivered: &'a [Delivered<'a>],
    ) -> Option<(Vec<Delivered<'a>>, Leases)> {
        // Per connection: the lease to check, or `None` when this instance does not write it.
        let mut writes: BTreeMap<&str, Option<Option<Fence>>> = BTreeMap::new();
        for d in delivered {
            let connection = d.notification.connection.as_str();
            writes
                .entry(connection)
                .or_insert_with(|| self.fences.for_write(connection).ok());
        }
        let kept: Vec<Delivered<'a>> = delivered
            .iter()
            .filter(|d| writes[d.notification.connection.as_str()].is_some())
            .copied()
            .collect();
        let mut leases = Leases::default();
        for (connection, fence) in writes {
            match fence {
                None => {
                    log::debug!("store: conn={connection} is fenced: completion left to its owner")
                }
                Some(None) => {}
                Some(Some(fence)) => {
                    leases.connections.push(connection.to_owned());
                    leases.owners.push(fence.owner.to_string());
                    leases.epochs.push(fence.epoch);
                }
            }
        }
        (!kept.is_empty()).then_some((kept, leases))
    }

    fn complete_batch(
        &self,
        delivered: &[Delivered<'_>],
        retain: Option<Retain<'_>>,
    ) -> Result<(), StoreError> {
        let Some((kept, leases)) = self.batch_leases(delivered) else {
            return Ok(());
        };
        let batch = Arc::new(Completion::new(&kept, retain, leases));
        let backlogs = Arc::clone(&self.backlogs);
        self.wait(move |pool| complete_in_db(pool, Arc::clone(&batch), Arc::clone(&backlogs)))
    }
}

/// The batch's transaction: leases checked, containers forgotten (only those still holding
/// the delivered notification), notifications retained; then the backlog counted.
async fn complete_in_db(
    pool: Pool,
    batch: Arc<Completion>,
    backlogs: Arc<Backlogs>,
) -> Result<(), Failure> {
    let mut client = pool.get().await.map_err(fail("connecting"))?;
    let tx = client
        .transaction()
        .await
        .map_err(fail("beginning a completion"))?;
    // Durable with the next flush, not at once, as the trait allows (and as sled does): the
    // commit does not wait for the WAL to reach the disk. A completion lost to a crash of
    // the database leaves its containers pending, to be delivered again under the same ids,
    // and loses its retained copies with them (one transaction). `flush` makes every
    // completion before it durable.
    tx.batch_execute("SET LOCAL synchronous_commit = off")
        .await
        .map_err(fail("beginning a completion"))?;
    let fenced = fenced_connections(&tx, &batch.leases).await?;
    let mine = |i: &usize| !fenced.contains(&batch.connections[*i]);
    let rows: Vec<usize> = (0..batch.ids.len()).filter(mine).collect();
    let (connections, sequences, ids) = (
        pick(&rows, &batch.connections),
        pick(&rows, &batch.sequences),
        pick(&rows, &batch.ids),
    );
    if let Some(destination) = &batch.destination {
        let statement = tx
            .prepare_cached(
                "INSERT INTO retained \
                 (destination, delivered_at, connection, sequence, notification_id, key, body) \
                 SELECT $1, * FROM UNNEST($2::timestamptz[], $3::text[], $4::bigint[], \
                                          $5::text[], $6::text[], $7::bytea[]) \
                 ON CONFLICT DO NOTHING",
            )
            .await
            .map_err(fail("retaining notifications"))?;
        let (at, keys, bodies) = (
            pick(&rows, &batch.delivered_at),
            pick(&rows, &batch.keys),
            pick(&rows, &batch.bodies),
        );
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 7] = [
            destination,
            &at,
            &connections,
            &sequences,
            &ids,
            &keys,
            &bodies,
        ];
        tx.execute(&statement, &params)
            .await
            .map_err(fail("retaining notifications"))?;
    }
    let statement = tx
        .prepare_cached(
            "DELETE FROM pending p \
             USING UNNEST($1::text[], $2::bigint[], $3::text[]) AS d(connection, sequence, id) \
             WHERE p.connection = d.connection AND p.sequence = d.sequence \
               AND p.notification_id = d.id \
             RETURNING p.connection, p.sequence",
        )
        .await
        .map_err(fail("forgetting delivered containers"))?;
    let removed = tx
        .query(&statement, &[&connections, &sequences, &ids])
        .await
        .map_err(fail("forgetting delivered containers"))?;
    tx.commit().await.map_err(fail("committing a completion"))?;
    let removed: Vec<(String, u64)> = removed
        .iter()
        .map(|row| (row.get(0), row.get::<_, i64>(1) as u64))
        .collect();
    counted(backlogs, move |b| {
        removed.iter().for_each(|(c, s)| b.removed(c, *s));
    })
    .await;
    Ok(())
}

/// The values of `column` at `rows`.
fn pick<T: Clone>(rows: &[usize], column: &[T]) -> Vec<T> {
    rows.iter().map(|&i| column[i].clone()).collect()
}

/// The connections of `leases` whose lease this instance no longer holds, checked (and held
/// `FOR SHARE` until the commit) in the caller's transaction.
async fn fenced_connections(tx: &Transaction<'_>, leases: &Leases) -> Result<Vec<String>, Failure> {
    if leases.connections.is_empty() {
        return Ok(Vec::new());
    }
    let statement = tx
        .prepare_cached(
            "SELECT l.connection FROM leases l, \
                    UNNEST($1::text[], $2::text[], $3::bigint[]) AS f(connection, owner, epoch) \
             WHERE l.connection = f.connection AND l.owner = f.owner AND l.epoch = f.epoch \
               AND l.expires_at > now() \
             FOR SHARE OF l",
        )
        .await
        .map_err(fail("checking the leases"))?;
    let rows = tx
        .query(
            &statement,
            &[&leases.connections, &leases.owners, &leases.epochs],
        )
        .await
        .map_err(fail("checking the leases"))?;
    let held: Vec<String> = rows.iter().map(|row| row.get(0)).collect();
    let fenced: Vec<String> = leases
        .connections
        .iter()
        .filter(|c| !held.contains(c))
        .cloned()
        .collect();
    for connection in &fenced {
        log::debug!("store: conn={connection} is fenced: completion left to its new owner");
    }
    Ok(fenced)
}

/// A dead letter as the database takes it.
struct Burial {
    /// The lease the write needs; `None` without leases.
    fence: Option<Fence>,
    connection: String,
    sequence: i64,
    id: String,
    destination: String,
    dead_at: DateTime<Utc>,
    letter: Vec<u8>,
}

/// Moves the container to the dead letters in one transaction; nothing when its key holds
/// another notification (a retried letter's or a new owner's). Answers whether a pending
/// container left.
async fn bury(pool: Pool, burial: Arc<Burial>, backlogs: Arc<Backlogs>) -> Result<(), Failure> {
    let mut client = pool.get().await.map_err(fail("connecting"))?;
    let tx = client
        .transaction()
        .await
        .map_err(fail("beginning a dead letter"))?;
    fence::check(&*tx, &burial.connection, burial.fence.as_ref()).await?;
    let key: [&(dyn tokio_postgres::types::ToSql + Sync); 2] =
        [&burial.connection, &burial.sequence];
    let statement = tx
        .prepare_cached(
            "DELETE FROM pending WHERE connection = $1 AND sequence = $2 AND notification_id = $3 \
             RETURNING container",
        )
        .await
        .map_err(fail("moving a container to the dead letters"))?;
    let container: Option<Vec<u8>> = tx
        .query_opt(&statement, &[key[0], key[1], &burial.id])
        .await
        .map_err(fail("moving a container to the dead letters"))?
        .map(|row| row.get(0));
    if container.is_none() {
        let other = tx
            .query_opt(
                "SELECT 1 FROM pending WHERE connection = $1 AND sequence = $2",
                &key,
            )
            .await
            .map_err(fail("moving a container to the dead letters"))?;
        if other.is_some() {
            // Another notification took that key since: this letter is not its.
            return Ok(());
        }
    }
    let statement = tx
        .prepare_cached(
            "INSERT INTO dead_letters \
             (connection, sequence, notification_id, destination, dead_at, letter, container) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (connection, sequence) DO UPDATE \
             SET notification_id = EXCLUDED.notification_id, \
                 destination = EXCLUDED.destination, dead_at = EXCLUDED.dead_at, \
                 letter = EXCLUDED.letter, \
                 container = COALESCE(EXCLUDED.container, dead_letters.container)",
        )
        .await
        .map_err(fail("writing a dead letter"))?;
    let b = &*burial;
    tx.execute(
        &statement,
        &[
            &b.connection,
            &b.sequence,
            &b.id,
            &b.destination,
            &b.dead_at,
            &b.letter,
            &container,
        ],
    )
    .await
    .map_err(fail("writing a dead letter"))?;
    tx.commit()
        .await
        .map_err(fail("committing a dead letter"))?;
    if container.is_some() {
        let (connection, sequence) = (b.connection.clone(), b.sequence as u64);
        counted(backlogs, move |b| b.removed(&connection, sequence)).await;
    }
    Ok(())
}

impl CompletionStore for PgStore {
    /// Blocks the calling thread until the batch's transaction committed (see the module's
    /// documentation), and answers a ready future.
    fn complete<'a>(
        &'a self,
        delivered: &'a [Delivered<'a>],
        retain: Option<Retain<'a>>,
    ) -> StoreFuture<'a, ()> {
        ready(self.complete_batch(delivered, retain))
    }

    fn dead_letter<'a>(&'a self, letter: &'a DeadLetter) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let burial = Arc::new(Burial {
                fence: self.fences.for_write(&letter.connection)?,
                connection: letter.connection.clone(),
                sequence: db_sequence(letter.sequence),
                id: letter.notification_id.clone(),
                destination: letter.destination.clone(),
                dead_at: letter.dead_at,
                letter: encode(letter),
            });
            let backlogs = Arc::clone(&self.backlogs);
            self.run(move |pool| bury(pool, Arc::clone(&burial), Arc::clone(&backlogs)))
                .await
        })
    }
}
