//! Operator actions on the in-memory store's dead letters, with the sled backend's paging and
//! retry semantics.

use std::ops::Bound;

use super::{key, ready, Key, MemoryStore, State};
use crate::model::{Container, DeadLetter};
use crate::store::dead_letters::{parse_position, EVERY};
use crate::store::traits::{DeadLetterStore, StoreFuture};
use crate::store::{DeadLetterFilter, DeadLetterPage, DeadLetterSelection, StoreError};

impl DeadLetterStore for MemoryStore {
    fn dead_letter_page<'a>(
        &'a self,
        filter: &'a DeadLetterFilter,
        after: Option<&'a str>,
        limit: usize,
    ) -> StoreFuture<'a, DeadLetterPage> {
        let state = self.lock();
        let after = after.and_then(parse_position);
        let mut matching = letters_after(&state, filter, after);
        let letters: Vec<DeadLetter> = matching.by_ref().take(limit).cloned().collect();
        let next = match (matching.next(), letters.last()) {
            (Some(_), Some(last)) => Some(format!("{}/{}", last.connection, last.sequence)),
            _ => None,
        };
        ready(Ok(DeadLetterPage { letters, next }))
    }

    fn find_dead_letter<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<DeadLetter>> {
        let state = self.lock();
        let found = letters_after(&state, &EVERY, None).find(|l| l.notification_id == id);
        ready(Ok(found.cloned()))
    }

    fn retry_dead_letters<'a>(
        &'a self,
        selection: &'a DeadLetterSelection,
    ) -> StoreFuture<'a, Vec<DeadLetter>> {
        let mut state = self.lock();
        let mut moved = Vec::new();
        for letter in selected(&state, selection) {
            let key = key(&letter.connection, letter.sequence);
            let container = match state.dead_containers.remove(&key) {
                Some(container) => container,
                // Dead letters written before their container was kept carry a standard body.
                None => match Container::from_notification_body(&letter.body) {
                    Some(container) => container,
                    None => return ready(Err(no_container(&letter))),
                },
            };
            state.dead_letters.remove(&key);
            let at = container.detected_at;
            if state.containers.insert(key, container).is_none() {
                self.backlogs
                    .added(&letter.connection, letter.sequence, 1, at);
            }
            moved.push(letter);
        }
        ready(Ok(moved))
    }

    fn purge_dead_letters<'a>(
        &'a self,
        selection: &'a DeadLetterSelection,
    ) -> StoreFuture<'a, Vec<DeadLetter>> {
        let mut state = self.lock();
        let purged = selected(&state, selection);
        for letter in &purged {
            let key = key(&letter.connection, letter.sequence);
            state.dead_containers.remove(&key);
            state.dead_letters.remove(&key);
        }
        ready(Ok(purged))
    }
}

/// The error of a dead letter that kept neither its container nor a standard body.
fn no_container(letter: &DeadLetter) -> StoreError {
    StoreError::Corrupt {
        key: format!("{}/{}", letter.connection, letter.sequence),
        reason: "the dead letter kept no container to retry".into(),
    }
}

/// The dead letters `selection` names.
fn selected(state: &State, selection: &DeadLetterSelection) -> Vec<DeadLetter> {
    let letters: Vec<&DeadLetter> = match selection {
        DeadLetterSelection::Id(id) => letters_after(state, &EVERY, None)
            .filter(|l| l.notification_id == *id)
            .collect(),
        DeadLetterSelection::Matching(filter) => letters_after(state, filter, None).collect(),
    };
    letters.into_iter().cloned().collect()
}

/// Dead letters matching `filter` after the position `after`, in key order.
fn letters_after<'a>(
    state: &'a State,
    filter: &'a DeadLetterFilter,
    after: Option<Key>,
) -> impl Iterator<Item = &'a DeadLetter> + 'a {
    let start = after.map_or(Bound::Unbounded, Bound::Excluded);
    state
        .dead_letters
        .range((start, Bound::Unbounded))
        .map(|(_, letter)| letter)
        .filter(move |letter| filter.matches(letter))
}
