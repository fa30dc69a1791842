//! Operator actions on dead letters in sled: list them (filtered, paged), find one, send
//! them back to pending with their original id and sequence, or purge them.
//!
//! A dead letter and its container share one key (`<connection>\0<sequence>`), so a retry
//! moves the record back under the very key it left, in one transaction: the notification
//! keeps its id and sequence, and no other container can ever take that place.

use std::ops::Bound;

use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use super::engine::Engine;
use super::{decode, encode, keys, never_aborts, ready, SledStore};
use crate::model::{Container, DeadLetter};
use crate::store::dead_letters::{parse_position, EVERY};
use crate::store::traits::{DeadLetterStore, StoreFuture};
use crate::store::{DeadLetterFilter, DeadLetterPage, DeadLetterSelection, StoreError};

impl DeadLetterStore for SledStore {
    fn dead_letter_page<'a>(
        &'a self,
        filter: &'a DeadLetterFilter,
        after: Option<&'a str>,
        limit: usize,
    ) -> StoreFuture<'a, DeadLetterPage> {
        ready(
            self.engine()
                .and_then(|engine| page(&engine, filter, after, limit)),
        )
    }

    fn find_dead_letter<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<DeadLetter>> {
        let selection = DeadLetterSelection::Id(id.to_owned());
        let found = self.engine().and_then(|engine| {
            let first = selected(&engine, &selection).next();
            first.transpose()
        });
        ready(found)
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

/// Up to `limit` dead letters matching `filter`, after the letter `after` names (a `next` of
/// the previous page). A connection filter reads only that connection's range.
fn page(
    engine: &Engine,
    filter: &DeadLetterFilter,
    after: Option<&str>,
    limit: usize,
) -> Result<DeadLetterPage, StoreError> {
    let after = after.and_then(parse_position);
    let after = after.map(|(connection, sequence)| keys::container(&connection, sequence));
    let mut letters = Vec::new();
    let mut more = false;
    for letter in letters_after(engine, filter, after) {
        let letter = letter?;
        if letters.len() == limit {
            more = true;
            break;
        }
        letters.push(letter);
    }
    let next = match (more, letters.last()) {
        (true, Some(last)) => Some(format!("{}/{}", last.connection, last.sequence)),
        _ => None,
    };
    Ok(DeadLetterPage { letters, next })
}

/// The dead letters `selection` names, lazily, in `engine`.
fn selected<'a>(
    engine: &'a Engine,
    selection: &'a DeadLetterSelection,
) -> Box<dyn Iterator<Item = Result<DeadLetter, StoreError>> + 'a> {
    match selection {
        DeadLetterSelection::Id(id) => Box::new(
            letters_after(engine, &EVERY, None)
                .filter(move |letter| letter.as_ref().map_or(true, |l| l.notification_id == *id)),
        ),
        DeadLetterSelection::Matching(filter) => Box::new(letters_after(engine, filter, None)),
    }
}

/// Dead letters matching `filter` whose key comes after `after`, lazily.
fn letters_after<'a>(
    engine: &'a Engine,
    filter: &'a DeadLetterFilter,
    after: Option<Vec<u8>>,
) -> impl Iterator<Item = Result<DeadLetter, StoreError>> + 'a {
    let (mut start, end) = match &filter.connection {
        Some(connection) => (
            Bound::Included(keys::container(connection, 0)),
            Bound::Excluded(keys::container_prefix_end(connection)),
        ),
        None => (Bound::Unbounded, Bound::Unbounded),
    };
    if let Some(after) = after {
        start = match (start, &end) {
            // Past this connection's range: an empty range, never an inverted one.
            (_, Bound::Excluded(last)) if after >= *last => Bound::Included(last.clone()),
            (Bound::Included(first), _) if after < first => Bound::Included(first),
            _ => Bound::Excluded(after),
        };
    }
    engine
        .dead_letters
        .range((start, end))
        .map(|entry| {
            let (key, value) = entry?;
            decode::<DeadLetter>(&keys::describe(&key), &value)
        })
        .filter(move |letter| letter.as_ref().map_or(true, |l| filter.matches(l)))
}

impl SledStore {
    /// Sends the selected dead letters back to pending, each with its original id, sequence
    /// and change, in one transaction per letter; flushed before returning. Returns those
    /// moved; the caller must have their connections dispatch them.
    async fn retry(&self, selection: &DeadLetterSelection) -> Result<Vec<DeadLetter>, StoreError> {
        let engine = self.engine()?;
        let mut moved = Vec::new();
        for letter in selected(&engine, selection).collect::<Result<Vec<_>, _>>()? {
            let key = keys::container(&letter.connection, letter.sequence);
            // Dead letters written before their container was kept carry a standard body,
            // which describes the container.
            let described = Container::from_notification_body(&letter.body).map(|c| encode(&c));
            let was_dead = (
                &engine.dead_letters,
                &engine.dead_containers,
                &engine.containers,
            )
                .transaction(|(dead, kept, pending)| {
                    if dead.remove(key.as_slice())?.is_none() {
                        return Ok(None);
                    }
                    let container = match kept.remove(key.as_slice())? {
                        Some(container) => container,
                        None => match &described {
                            Some(container) => container.as_slice().into(),
                            None => return Err(ConflictableTransactionError::Abort(())),
                        },
                    };
                    let added = pending.insert(key.as_slice(), container.clone())?.is_none();
                    Ok(Some(added.then_some(container)))
                })
                .map_err(|err| match err {
                    TransactionError::Abort(()) => StoreError::Corrupt {
                        key: keys::describe(&key),
                        reason: "the dead letter kept no container to retry".into(),
                    },
                    TransactionError::Storage(e) => e.into(),
                });
            let Some(added) = self.observe(&engine, was_dead)? else {
                continue;
            };
            if let Some(bytes) = added {
                let (connection, sequence) = (&letter.connection, letter.sequence);
                match decode::<Container>(&keys::describe(&key), &bytes) {
                    Ok(back) => engine
                        .backlogs
                        .added(connection, sequence, 1, back.detected_at),
                    // Counted; the oldest is looked up when read (and reports the damage).
                    Err(_) => engine.backlogs.added_unread(connection),
                }
            }
            moved.push(letter);
        }
        self.flush_engine(&engine).await?;
        Ok(moved)
    }

    /// Deletes the selected dead letters for good; flushed before returning. Returns those
    /// deleted.
    async fn purge(&self, selection: &DeadLetterSelection) -> Result<Vec<DeadLetter>, StoreError> {
        let engine = self.engine()?;
        let mut purged = Vec::new();
        for letter in selected(&engine, selection).collect::<Result<Vec<_>, _>>()? {
            let key = keys::container(&letter.connection, letter.sequence);
            let removed = (&engine.dead_letters, &engine.dead_containers)
                .transaction(|(dead, kept)| {
                    kept.remove(key.as_slice())?;
                    Ok(dead.remove(key.as_slice())?.is_some())
                })
                .map_err(never_aborts);
            if self.observe(&engine, removed)? {
                purged.push(letter);
            }
        }
        self.flush_engine(&engine).await?;
        Ok(purged)
    }
}
