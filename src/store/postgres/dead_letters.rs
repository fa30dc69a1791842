//! Operator actions on dead letters in PostgreSQL: list them (filtered, paged by
//! `<connection>/<sequence>`), find one, send them back to pending under their original key,
//! or purge them. Not fenced: any instance of a cluster may do them. A retry tells the
//! connection's owner, wherever it runs, to walk its pending containers again: it bumps the
//! lease row's `redispatch` counter in the retry's transaction.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;

use super::failure::{fail, Failure};
use super::pending::{db_sequence, describe};
use super::{decode, encode, PgStore};
use crate::model::{Container, DeadLetter};
use crate::store::dead_letters::parse_position;
use crate::store::traits::{DeadLetterStore, StoreFuture};
use crate::store::{DeadLetterFilter, DeadLetterPage, DeadLetterSelection, StoreError};

/// Which dead letters a read selects, in key order.
#[derive(Clone, Default)]
struct Query {
    id: Option<String>,
    destination: Option<String>,
    connection: Option<String>,
    /// Only those after this key.
    after: Option<(String, i64)>,
    /// At most this many; all when `None`.
    limit: Option<i64>,
}

impl Query {
    fn of(selection: &DeadLetterSelection) -> Self {
        match selection {
            DeadLetterSelection::Id(id) => Self {
                id: Some(id.clone()),
                ..Self::default()
            },
            DeadLetterSelection::Matching(filter) => Self::matching(filter),
        }
    }

    fn matching(filter: &DeadLetterFilter) -> Self {
        Self {
            destination: filter.destination.clone(),
            connection: filter.connection.clone(),
            ..Self::default()
        }
    }
}

async fn select(pool: Pool, query: Query) -> Result<Vec<DeadLetter>, Failure> {
    let client = pool.get().await.map_err(fail("connecting"))?;
    let statement = client
        .prepare_cached(
            "SELECT connection, sequence, letter FROM dead_letters \
             WHERE ($1::text IS NULL OR notification_id = $1) \
               AND ($2::text IS NULL OR destination = $2) \
               AND ($3::text IS NULL OR connection = $3) \
               AND (connection, sequence) > ($4, $5) \
             ORDER BY connection, sequence LIMIT $6",
        )
        .await
        .map_err(fail("reading dead letters"))?;
    let (after, after_sequence) = query.after.unwrap_or((String::new(), -1));
    let rows = client
        .query(
            &statement,
            &[
                &query.id,
                &query.destination,
                &query.connection,
                &after,
                &after_sequence,
                &query.limit,
            ],
        )
        .await
        .map_err(fail("reading dead letters"))?;
    rows.iter()
        .map(|row| {
            let key = format!("dead/{}/{}", row.get::<_, &str>(0), row.get::<_, i64>(1));
            Ok(decode(&key, row.get::<_, &[u8]>(2))?)
        })
        .collect()
}

/// A retried letter's container as it went back to pending.
struct Revived {
    id: String,
    detected_at: DateTime<Utc>,
    /// Whether it could be read (its time is the retry's otherwise).
    read: bool,
    /// Whether it added a pending container (not replaced one under its key).
    added: bool,
}

/// Moves `letter` back to pending under its key in one transaction, and bumps its lease's
/// `redispatch` counter; answers the revived container when this retry moved it (`None`:
/// another retry or a purge came first).
async fn revive(pool: Pool, letter: DeadLetter) -> Result<Option<Revived>, Failure> {
    let mut client = pool.get().await.map_err(fail("connecting"))?;
    let tx = client
        .transaction()
        .await
        .map_err(fail("beginning a retry"))?;
    let (connection, sequence) = (&letter.connection, db_sequence(letter.sequence));
    let row = tx
        .query_opt(
            "DELETE FROM dead_letters WHERE connection = $1 AND sequence = $2 RETURNING container",
            &[connection, &sequence],
        )
        .await
        .map_err(fail("retrying a dead letter"))?;
    let Some(row) = row else {
        return Ok(None);
    };
    let (bytes, mut revived) = container_of(&letter, row.get(0))?;
    let replaced = tx
        .execute(
            "DELETE FROM pending WHERE connection = $1 AND sequence = $2",
            &[connection, &sequence],
        )
        .await
        .map_err(fail("retrying a dead letter"))?;
    tx.execute(
        "INSERT INTO pending (connection, sequence, notification_id, detected_at, container) \
         VALUES ($1, $2, $3, $4, $5)",
        &[
            connection,
            &sequence,
            &revived.id,
            &revived.detected_at,
            &bytes,
        ],
    )
    .await
    .map_err(fail("retrying a dead letter"))?;
    tx.execute(
        "UPDATE leases SET redispatch = redispatch + 1 WHERE connection = $1",
        &[connection],
    )
    .await
    .map_err(fail("retrying a dead letter"))?;
    tx.commit().await.map_err(fail("committing a retry"))?;
    revived.added = replaced == 0;
    Ok(Some(revived))
}

/// The container a retry of `letter` puts back (`stored` beside the letter, or rebuilt from
/// its standard body), encoded, and what the backlog needs of it.
fn container_of(
    letter: &DeadLetter,
    stored: Option<Vec<u8>>,
) -> Result<(Vec<u8>, Revived), StoreError> {
    // Dead letters written before their container was kept carry a standard body.
    let bytes = match stored {
        Some(bytes) => bytes,
        None => match Container::from_notification_body(&letter.body) {
            Some(container) => encode(&container),
            None => return Err(no_container(letter)),
        },
    };
    let key = describe(&letter.connection, db_sequence(letter.sequence));
    let revived = match decode::<Container>(&key, &bytes) {
        Ok(c) => Revived {
            id: c.notification_id,
            detected_at: c.detected_at,
            read: true,
            added: true,
        },
        // Counted; the oldest is looked up when read (and reports the damage).
        Err(_) => Revived {
            id: letter.notification_id.clone(),
            detected_at: Utc::now(),
            read: false,
            added: true,
        },
    };
    Ok((bytes, revived))
}

/// The error of a dead letter that kept neither its container nor a standard body.
fn no_container(letter: &DeadLetter) -> StoreError {
    StoreError::Corrupt {
        key: format!("{}/{}", letter.connection, letter.sequence),
        reason: "the dead letter kept no container to retry".into(),
    }
}

/// Deletes the dead letters of `keys` in one statement; answers the keys deleted.
async fn delete(
    pool: Pool,
    keys: (Vec<String>, Vec<i64>),
) -> Result<HashSet<(String, i64)>, Failure> {
    let client = pool.get().await.map_err(fail("connecting"))?;
    let rows = client
        .query(
            "DELETE FROM dead_letters d USING UNNEST($1::text[], $2::bigint[]) AS k(connection, sequence) \
             WHERE d.connection = k.connection AND d.sequence = k.sequence \
             RETURNING d.connection, d.sequence",
            &[&keys.0, &keys.1],
        )
        .await
        .map_err(fail("purging dead letters"))?;
    Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
}

impl PgStore {
    async fn retry(&self, selection: &DeadLetterSelection) -> Result<Vec<DeadLetter>, StoreError> {
        let query = Query::of(selection);
        let letters = self.run(move |pool| select(pool, query.clone())).await?;
        let mut moved = Vec::new();
        for letter in letters {
            let asked = letter.clone();
            let revived = self.run(move |pool| revive(pool, asked.clone())).await?;
            let Some(revived) = revived else {
                continue;
            };
            let (connection, sequence) = (&letter.connection, letter.sequence);
            if revived.added && self.tracks(connection) {
                match revived.read {
                    true => self
                        .backlogs
                        .added(connection, sequence, 1, revived.detected_at),
                    false => self.backlogs.added_unread(connection),
                }
            }
            moved.push(letter);
        }
        Ok(moved)
    }

    async fn purge(&self, selection: &DeadLetterSelection) -> Result<Vec<DeadLetter>, StoreError> {
        let query = Query::of(selection);
        let letters = self.run(move |pool| select(pool, query.clone())).await?;
        let keys: (Vec<String>, Vec<i64>) = letters
            .iter()
            .map(|l| (l.connection.clone(), db_sequence(l.sequence)))
            .unzip();
        let deleted = self.run(move |pool| delete(pool, keys.clone())).await?;
        Ok(letters
            .into_iter()
            .filter(|l| deleted.contains(&(l.connection.clone(), db_sequence(l.sequence))))
            .collect())
    }
}

impl DeadLetterStore for PgStore {
    fn dead_letter_page<'a>(
        &'a self,
        filter: &'a DeadLetterFilter,
        after: Option<&'a str>,
        limit: usize,
    ) -> StoreFuture<'a, DeadLetterPage> {
        let query = Query {
            after: after
                .and_then(parse_position)
                .map(|(c, s)| (c, db_sequence(s))),
            limit: Some(i64::try_from(limit).unwrap_or(i64::MAX - 1) + 1),
            ..Query::matching(filter)
        };
        Box::pin(async move {
            let mut letters = self.run(move |pool| select(pool, query.clone())).await?;
            let more = letters.len() > limit;
            letters.truncate(limit);
            let next = match (more, letters.last()) {
                (true, Some(last)) => Some(format!("{}/{}", last.connection, last.sequence)),
                _ => None,
            };
            Ok(DeadLetterPage { letters, next })
        })
    }

    fn find_dead_letter<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<DeadLetter>> {
        let query = Query {
            limit: Some(1),
            ..Query::of(&DeadLetterSelection::Id(id.to_owned()))
        };
        Box::pin(async move {
            let found = self.run(move |pool| select(pool, query.clone())).await?;
            Ok(found.into_iter().next())
        })
    }

    fn retry_dead_letters<'a>(
        &'a self,
        selection: &'a DeadLetterSelection,
    ) -> StoreFuture<'a, Vec<DeadLetter>> {
        Box::pin(self.retry(selection))
    }

    fn purge_dead_letters<'a>(
        &'a self,
        selection: &'a DeadLetterSelection,
    ) -> StoreFuture<'a, Vec<DeadLetter>> {
        Box::pin(self.purge(selection))
    }
}
