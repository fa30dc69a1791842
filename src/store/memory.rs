//! The in-memory backend: every trait of the store with the sled backend's semantics, for
//! unit tests that need a store but not a disk. One lock guards the whole state, so each call
//! is one transaction; nothing survives the process, and there are no write faults (it is
//! always in service, never re-opened).

mod dead_letters;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};

use super::backlog::Backlogs;
use super::containers;
use super::health::StoreHealth;
use super::retained::{Delivered, Retain, Retained, RetainedKey, RetainedRange, Swept};
use super::traits::ready;
use super::traits::{
    CompletionStore, ConnectionState, Cutoff, FhirStore, HealthStore, PageStore, PendingPage,
    PendingStore, RecordStore, RetainedReader, RetainedStore, StoreFuture,
};
use super::StoreError;
use crate::model::{ChangeItem, Container, CursorState, DeadLetter};
use crate::model::{FhirCommit, FhirCursor, RecordCommit, Recorded, Seen, Track};

/// A container's (and its dead letter's) key: connection, then sequence, ordered as the
/// sled backend orders its keys.
type Key = (String, u64);

/// A store that lives in memory only.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    /// Kept by every write, as the sled backend keeps its own.
    backlogs: Backlogs,
}

#[derive(Default)]
struct State {
    connections: HashMap<String, ConnectionState>,
    containers: BTreeMap<Key, Container>,
    dead_letters: BTreeMap<Key, DeadLetter>,
    /// The container of each dead letter, under the same key, for a retry.
    dead_containers: BTreeMap<Key, Container>,
    /// FHIR cursors by connection, resource type and track name.
    fhir_cursors: HashMap<(String, String, &'static str), FhirCursor>,
    /// The last version seen by connection, resource type and resource id.
    fhir_seen: HashMap<(String, String, String), Seen>,
    /// Record sources' records by connection and scope, then key (in key order, as sled
    /// scans them).
    records: HashMap<(String, String), BTreeMap<String, Recorded>>,
    /// Retained notifications per destination, in the order they were delivered.
    retained: BTreeMap<String, Vec<Retained>>,
}

fn key(connection: &str, sequence: u64) -> Key {
    (connection.to_owned(), sequence)
}

impl MemoryStore {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes `containers` and the connection's next state (with `cursor`), and then `extra`
    /// on the state, unless the stored state is no longer `expected`.
    fn commit(
        &self,
        connection: &str,
        expected: &ConnectionState,
        containers: Vec<Container>,
        cursor: CursorState,
        extra: impl FnOnce(&mut State),
    ) -> Result<Vec<Container>, StoreError> {
        let mut state = self.lock();
        let unchanged = match state.connections.get(connection) {
            Some(stored) => stored == expected,
            None => expected.next_sequence == 1,
        };
        if !unchanged {
            return Err(StoreError::Conflict(connection.to_owned()));
        }
        let next = ConnectionState {
            cursor,
            next_sequence: expected.next_sequence + containers.len() as u64,
        };
        let mut added = 0;
        for container in &containers {
            let old = state
                .containers
                .insert(key(connection, container.sequence), container.clone());
            added += u64::from(old.is_none());
        }
        extra(&mut state);
        state.connections.insert(connection.to_owned(), next);
        if let Some(first) = containers.first() {
            let (sequence, at) = (first.sequence, first.detected_at);
            self.backlogs.added(connection, sequence, added, at);
        }
        Ok(containers)
    }
}

impl PageStore for MemoryStore {
    fn connection_state<'a>(
        &'a self,
        connection: &'a str,
        initial_cursor: &'a str,
    ) -> StoreFuture<'a, ConnectionState> {
        let stored = self.lock().connections.get(connection).cloned();
        ready(Ok(
            stored.unwrap_or_else(|| ConnectionState::initial(initial_cursor))
        ))
    }

    fn commit_page<'a>(
        &'a self,
        connection: &'a str,
        expected: &'a ConnectionState,
        items: &'a [ChangeItem],
        cursor: CursorState,
        now: DateTime<Utc>,
    ) -> StoreFuture<'a, Vec<Container>> {
        let first = expected.next_sequence;
        let containers = containers::of_items(connection, first, items, now);
        ready(self.commit(connection, expected, containers, cursor, |_| {}))
    }
}

impl FhirStore for MemoryStore {
    fn fhir_cursor<'a>(
        &'a self,
        connection: &'a str,
        type_name: &'a str,
        track: Track,
    ) -> StoreFuture<'a, Option<FhirCursor>> {
        let key = (connection.to_owned(), type_name.to_owned(), track.name());
        ready(Ok(self.lock().fhir_cursors.get(&key).cloned()))
    }

    fn fhir_seen<'a>(
        &'a self,
        connection: &'a str,
        type_name: &'a str,
        id: &'a str,
    ) -> StoreFuture<'a, Option<Seen>> {
        let key = (connection.to_owned(), type_name.to_owned(), id.to_owned());
        ready(Ok(self.lock().fhir_seen.get(&key).cloned()))
    }

    fn commit_fhir<'a>(
        &'a self,
        connection: &'a str,
        expected: &'a ConnectionState,
        commit: FhirCommit,
        now: DateTime<Utc>,
    ) -> StoreFuture<'a, Vec<Container>> {
        let first = expected.next_sequence;
        let containers = containers::of_fhir_changes(connection, first, commit.changes, now);
        let (type_name, track) = (commit.type_name, commit.track);
        let (cursor, seen) = (commit.cursor, commit.seen);
        let extra = |state: &mut State| {
            for (id, seen) in seen {
                let key = (connection.to_owned(), type_name.clone(), id);
                state.fhir_seen.insert(key, seen);
            }
            let key = (connection.to_owned(), type_name.clone(), track.name());
            state.fhir_cursors.insert(key, cursor);
        };
        let stays = expected.cursor.clone();
        ready(self.commit(connection, expected, containers, stays, extra))
    }
}

impl RecordStore for MemoryStore {
    fn records<'a>(
        &'a self,
        connection: &'a str,
        scope: &'a str,
        keys: &'a [String],
    ) -> StoreFuture<'a, Vec<Option<Recorded>>> {
        let state = self.lock();
        let scoped = state
            .records
            .get(&(connection.to_owned(), scope.to_owned()));
        let found = keys
            .iter()
            .map(|key| scoped.and_then(|records| records.get(key)).cloned())
            .collect();
        ready(Ok(found))
    }

    fn scan_records<'a>(
        &'a self,
        connection: &'a str,
        scope: &'a str,
        after: Option<&'a str>,
        limit: usize,
    ) -> StoreFuture<'a, Vec<(String, Recorded)>> {
        use std::ops::Bound::{Excluded, Unbounded};
        let state = self.lock();
        let Some(records) = state
            .records
            .get(&(connection.to_owned(), scope.to_owned()))
        else {
            return ready(Ok(Vec::new()));
        };
        let from = after.map_or(Unbounded, |key| Excluded(key.to_owned()));
        let page = records
            .range((from, Unbounded))
            .take(limit)
            .map(|(key, record)| (key.clone(), record.clone()))
            .collect();
        ready(Ok(page))
    }

    fn commit_records<'a>(
        &'a self,
        connection: &'a str,
        expected: &'a ConnectionState,
        commit: RecordCommit,
        now: DateTime<Utc>,
    ) -> StoreFuture<'a, Vec<Container>> {
        let first = expected.next_sequence;
        let containers = containers::of_record_changes(connection, first, commit.changes, now);
        let (scope, records) = (commit.scope, commit.records);
        let extra = |state: &mut State| {
            let scoped = state
                .records
                .entry((connection.to_owned(), scope))
                .or_default();
            for (key, record) in records {
                match record {
                    Some(record) => scoped.insert(key, record),
                    None => scoped.remove(&key),
                };
            }
        };
        let cursor = commit.cursor.unwrap_or_else(|| expected.cursor.clone());
        ready(self.commit(connection, expected, containers, cursor, extra))
    }
}

impl PendingStore for MemoryStore {
    fn pending_page<'a>(
        &'a self,
        connection: &'a str,
        from: u64,
        limit: usize,
    ) -> StoreFuture<'a, PendingPage> {
        let state = self.lock();
        let mut range = state
            .containers
            .range(key(connection, from)..=key(connection, u64::MAX));
        let items = range
            .by_ref()
            .take(limit)
            .map(|(_, c)| Ok(c.clone()))
            .collect();
        let next = range.next().map(|((_, sequence), _)| *sequence);
        ready(Ok(PendingPage { items, next }))
    }

    fn is_pending<'a>(&'a self, connection: &'a str, sequence: u64) -> StoreFuture<'a, bool> {
        let pending = self
            .lock()
            .containers
            .contains_key(&key(connection, sequence));
        ready(Ok(pending))
    }

    fn container<'a>(
        &'a self,
        connection: &'a str,
        sequence: u64,
    ) -> StoreFuture<'a, Option<Container>> {
        let found = self
            .lock()
            .containers
            .get(&key(connection, sequence))
            .cloned();
        ready(Ok(found))
    }

    fn backlog(&self, connection: &str) -> Result<(u64, Option<DateTime<Utc>>), StoreError> {
        self.backlogs.read(connection, || {
            let state = self.lock();
            let mut range = state
                .containers
                .range(key(connection, 0)..=key(connection, u64::MAX));
            Ok(range.next().map(|(_, c)| (c.sequence, c.detected_at)))
        })
    }

    fn pending_count(&self) -> usize {
        self.backlogs.total() as usize
    }
}

impl CompletionStore for MemoryStore {
    fn complete<'a>(
        &'a self,
        delivered: &'a [Delivered<'a>],
        retain: Option<Retain<'a>>,
    ) -> StoreFuture<'a, ()> {
        let mut state = self.lock();
        if let Some(retain) = retain {
            let kept = state.retained.entry(retain.destination.to_owned());
            let kept = kept.or_default();
            kept.extend(delivered.iter().map(|d| retained(retain.destination, d)));
        }
        // By key, as sled does before any re-open (and this store never re-opens).
        for Delivered { notification, .. } in delivered {
            let (connection, sequence) = (&notification.connection, notification.sequence);
            if state
                .containers
                .remove(&key(connection, sequence))
                .is_some()
            {
                self.backlogs.removed(connection, sequence);
            }
        }
        ready(Ok(()))
    }

    fn dead_letter<'a>(&'a self, letter: &'a DeadLetter) -> StoreFuture<'a, ()> {
        let mut state = self.lock();
        let key = key(&letter.connection, letter.sequence);
        match state.containers.get(&key) {
            Some(c) if c.notification_id != letter.notification_id => return ready(Ok(())),
            Some(_) => {
                let container = state.containers.remove(&key).expect("just found");
                state.dead_containers.insert(key.clone(), container);
                self.backlogs.removed(&letter.connection, letter.sequence);
            }
            None => {}
        }
        state.dead_letters.insert(key, letter.clone());
        ready(Ok(()))
    }
}

/// What is retained of one delivered notification.
fn retained(destination: &str, delivered: &Delivered<'_>) -> Retained {
    let notification = delivered.notification;
    // Kept at the millisecond, as the segment files keep it.
    let millis = delivered.at.timestamp_millis();
    Retained {
        key: RetainedKey {
            destination: destination.to_owned(),
            delivered_at: DateTime::from_timestamp_millis(millis).unwrap_or(delivered.at),
            connection: notification.connection.clone(),
            sequence: notification.sequence,
        },
        notification: notification.clone(),
    }
}

impl RetainedStore for MemoryStore {
    fn read_retained(&self, range: &RetainedRange) -> Box<dyn RetainedReader> {
        let state = self.lock();
        let wanted = |r: &&Retained| {
            let at = r.key.delivered_at;
            at >= range.since
                && range.until.is_none_or(|until| at < until)
                && range
                    .connection
                    .as_ref()
                    .is_none_or(|c| *c == r.key.connection)
        };
        let records = state.retained.get(&range.destination).into_iter().flatten();
        let records: Vec<Retained> = records.filter(wanted).cloned().collect();
        Box::new(Reader(records.into_iter()))
    }

    fn retained_count(&self) -> StoreFuture<'_, usize> {
        ready(Ok(self.lock().retained.values().map(Vec::len).sum()))
    }

    /// Deletes notification by notification: a `Swept` segment is one notification here.
    fn sweep_retained(&self, cutoff: Cutoff) -> StoreFuture<'_, Swept> {
        let mut swept = Swept::default();
        for (destination, kept) in &mut self.lock().retained {
            let cutoff = cutoff(destination);
            kept.retain(|r| {
                let expired = r.key.delivered_at < cutoff;
                if expired {
                    swept.segments += 1;
                    swept.bytes += r.notification.body.len() as u64;
                }
                !expired
            });
        }
        ready(Ok(swept))
    }
}

/// A read of retained notifications copied out at its start.
struct Reader(std::vec::IntoIter<Retained>);

impl RetainedReader for Reader {
    fn next_page(&mut self, limit: usize) -> StoreFuture<'_, Vec<Retained>> {
        ready(Ok(self.0.by_ref().take(limit).collect()))
    }

    fn skipped(&self) -> u64 {
        0
    }
}

impl HealthStore for MemoryStore {
    fn health(&self) -> StoreHealth {
        StoreHealth::default()
    }

    fn reopens(&self) -> u64 {
        0
    }

    fn epoch(&self) -> Option<u64> {
        Some(0)
    }

    fn check(&self) -> StoreFuture<'_, ()> {
        ready(Ok(()))
    }

    /// Nothing to flush: each call is done when it returns.
    fn flush(&self) -> StoreFuture<'_, ()> {
        ready(Ok(()))
    }
}
