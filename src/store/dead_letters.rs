//! Operator actions on dead letters: list them (filtered, paged), find one, send them back to
//! pending with their original id and sequence, or purge them.
//!
//! A dead letter and its container share one key (`<connection>\0<sequence>`), so a retry
//! moves the record back under the very key it left, in one transaction: the notification
//! keeps its id and sequence, and no other container can ever take that place.

use std::ops::Bound;

use serde::{Deserialize, Serialize};
use sled::Transactional;

use sled::transaction::{ConflictableTransactionError, TransactionError};

use super::{decode, encode, keys, never_aborts, Store, StoreError};
use crate::model::{Container, DeadLetter};

/// The filter that matches every dead letter.
const EVERY: DeadLetterFilter = DeadLetterFilter {
    destination: None,
    connection: None,
};

/// Which dead letters an operation concerns; an empty filter matches every one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetterFilter {
    /// Only those refused by this destination.
    pub destination: Option<String>,
    /// Only those produced by this connection.
    pub connection: Option<String>,
}

impl DeadLetterFilter {
    /// Whether `letter` is one of those meant.
    pub fn matches(&self, letter: &DeadLetter) -> bool {
        self.destination
            .as_ref()
            .is_none_or(|d| *d == letter.destination)
            && self
                .connection
                .as_ref()
                .is_none_or(|c| *c == letter.connection)
    }

    /// Whether the filter names neither a destination nor a connection.
    pub fn is_empty(&self) -> bool {
        self.destination.is_none() && self.connection.is_none()
    }
}

/// What a retry or a purge acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeadLetterSelection {
    /// The dead letter(s) of one notification id.
    Id(String),
    /// Every dead letter the filter matches.
    Matching(DeadLetterFilter),
}

/// One page of dead letters, oldest connection sequence first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeadLetterPage {
    /// The dead letters of this page.
    pub letters: Vec<DeadLetter>,
    /// Where the next page starts (`<connection>/<sequence>` of this page's last letter), or
    /// `None` when this is the last page.
    pub next: Option<String>,
}

impl Store {
    /// Every dead letter, oldest connection sequence first.
    pub fn dead_letters(&self) -> Result<Vec<DeadLetter>, StoreError> {
        self.dead_letters_matching(&EVERY).collect()
    }

    /// Up to `limit` dead letters matching `filter`, after the letter `after` names (a
    /// `next` of the previous page). A connection filter reads only that connection's range.
    pub fn dead_letter_page(
        &self,
        filter: &DeadLetterFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<DeadLetterPage, StoreError> {
        let after = after.and_then(parse_position);
        let after = after.map(|(connection, sequence)| keys::container(&connection, sequence));
        let mut letters = Vec::new();
        let mut more = false;
        for letter in self.dead_letters_after(filter, after) {
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

    /// The dead letter of notification `id`, if there is one.
    pub fn find_dead_letter(&self, id: &str) -> Result<Option<DeadLetter>, StoreError> {
        self.selected(&DeadLetterSelection::Id(id.to_owned()))
            .next()
            .transpose()
    }

    /// Sends the selected dead letters back to pending, each with its original id, sequence
    /// and change, in one transaction per letter; flushed before returning. Returns those
    /// moved; the caller must have their connections dispatch them.
    pub async fn retry_dead_letters(
        &self,
        selection: &DeadLetterSelection,
    ) -> Result<Vec<DeadLetter>, StoreError> {
        let engine = self.engine()?;
        let mut moved = Vec::new();
        for letter in self.selected(selection).collect::<Result<Vec<_>, _>>()? {
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
                        return Ok(false);
                    }
                    let container = match kept.remove(key.as_slice())? {
                        Some(container) => container,
                        None => match &described {
                            Some(container) => container.as_slice().into(),
                            None => return Err(ConflictableTransactionError::Abort(())),
                        },
                    };
                    pending.insert(key.as_slice(), container)?;
                    Ok(true)
                })
                .map_err(|err| match err {
                    TransactionError::Abort(()) => StoreError::Corrupt {
                        key: keys::describe(&key),
                        reason: "the dead letter kept no container to retry".into(),
                    },
                    TransactionError::Storage(e) => StoreError::Sled(e),
                });
            if self.observe(&engine, was_dead)? {
                moved.push(letter);
            }
        }
        self.flush_engine(&engine).await?;
        Ok(moved)
    }

    /// Deletes the selected dead letters for good; flushed before returning. Returns those
    /// deleted.
    pub async fn purge_dead_letters(
        &self,
        selection: &DeadLetterSelection,
    ) -> Result<Vec<DeadLetter>, StoreError> {
        let engine = self.engine()?;
        let mut purged = Vec::new();
        for letter in self.selected(selection).collect::<Result<Vec<_>, _>>()? {
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

    fn selected<'a>(
        &'a self,
        selection: &'a DeadLetterSelection,
    ) -> Box<dyn Iterator<Item = Result<DeadLetter, StoreError>> + 'a> {
        match selection {
            DeadLetterSelection::Id(id) => {
                Box::new(self.dead_letters_matching(&EVERY).filter(move |letter| {
                    letter.as_ref().map_or(true, |l| l.notification_id == *id)
                }))
            }
            DeadLetterSelection::Matching(filter) => Box::new(self.dead_letters_matching(filter)),
        }
    }

    /// Dead letters matching `filter`, lazily; a connection filter reads only its range.
    fn dead_letters_matching<'a>(
        &'a self,
        filter: &'a DeadLetterFilter,
    ) -> impl Iterator<Item = Result<DeadLetter, StoreError>> + 'a {
        self.dead_letters_after(filter, None)
    }

    /// Dead letters matching `filter` whose key comes after `after`, lazily.
    fn dead_letters_after<'a>(
        &'a self,
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
        self.iterate(|engine| {
            engine.dead_letters.range((start, end)).map(|entry| {
                let (key, value) = entry?;
                decode::<DeadLetter>(&keys::describe(&key), &value)
            })
        })
        .filter(move |letter| letter.as_ref().map_or(true, |l| filter.matches(l)))
    }
}

/// Reads a page position `<connection>/<sequence>`.
fn parse_position(position: &str) -> Option<(String, u64)> {
    let (connection, sequence) = position.rsplit_once('/')?;
    Some((connection.to_owned(), sequence.parse().ok()?))
}
