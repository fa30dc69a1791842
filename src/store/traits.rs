//! The store's contract: small async traits, each stating what it guarantees, which every
//! backend (sled, in memory, a server database later) implements with the same semantics.
//! Callers hold a [`super::Store`], never a backend: the backend is chosen when it opens.
//!
//! Futures are boxed (`BoxFuture`) so the traits stay object-safe: the store is an
//! `Arc<dyn Backend>` chosen at run time. What is kept in memory anyway (health, re-opens, the
//! backlog counters) is answered synchronously.

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::dead_letters::{DeadLetterFilter, DeadLetterPage, DeadLetterSelection};
use super::health::StoreHealth;
use super::retained::{Delivered, Retain, Retained, RetainedRange, Swept};
use super::StoreError;
use crate::model::{ChangeItem, Container, CursorState, DeadLetter};
use crate::model::{FhirCommit, FhirCursor, RecordCommit, Recorded, Seen, Track};

/// What a store call answers, later.
pub type StoreFuture<'a, T> = BoxFuture<'a, Result<T, StoreError>>;

/// A result already known, answered as the traits answer: for backends whose work is done
/// by the time the call returns (an embedded engine).
pub(crate) fn ready<'a, T: Send + 'a>(result: Result<T, StoreError>) -> StoreFuture<'a, T> {
    Box::pin(std::future::ready(result))
}

/// What the store remembers about one connection between polls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionState {
    /// Where the next poll reads from.
    pub cursor: CursorState,
    /// The sequence number the next container gets.
    pub next_sequence: u64,
}

impl ConnectionState {
    /// Where a connection that never committed a page starts.
    pub fn initial(initial_cursor: &str) -> Self {
        Self {
            cursor: CursorState::initial(initial_cursor),
            next_sequence: 1,
        }
    }
}

/// How a connection's page becomes durable.
///
/// Guarantees: a page's containers, the connection's new cursor and its next sequence are
/// written in one durable transaction, flushed before the call returns (a group commit may
/// share the flush); sequence numbers are gap-free per connection, assigned in that same
/// transaction; nothing is written when the stored state is no longer `expected` (another
/// writer): the call fails with [`StoreError::Conflict`] and the cursor stays where it was.
pub trait PageStore {
    /// The connection's stored state, or [`ConnectionState::initial`] when it never committed.
    fn connection_state<'a>(
        &'a self,
        connection: &'a str,
        initial_cursor: &'a str,
    ) -> StoreFuture<'a, ConnectionState>;

    /// Makes a page durable: one container per item (of the item's event type), numbered
    /// from `expected.next_sequence`, and `cursor`, in one transaction; answers the
    /// containers written.
    fn commit_page<'a>(
        &'a self,
        connection: &'a str,
        expected: &'a ConnectionState,
        items: &'a [ChangeItem],
        cursor: CursorState,
        now: DateTime<Utc>,
    ) -> StoreFuture<'a, Vec<Container>>;
}

/// What a FHIR connection keeps beside its containers.
///
/// Guarantees: a resource type's cursor and the versions seen on a page move in the same
/// transaction as the page's containers (and under the same `expected` check as
/// [`PageStore::commit_page`]), so a version is never marked seen without its container, nor
/// a cursor moved past a change that was not stored.
pub trait FhirStore {
    /// The stored cursor of a resource type's track, if it ever committed one.
    fn fhir_cursor<'a>(
        &'a self,
        connection: &'a str,
        type_name: &'a str,
        track: Track,
    ) -> StoreFuture<'a, Option<FhirCursor>>;

    /// The last version of `type_name/id` this connection took.
    fn fhir_seen<'a>(
        &'a self,
        connection: &'a str,
        type_name: &'a str,
        id: &'a str,
    ) -> StoreFuture<'a, Option<Seen>>;

    /// Makes a FHIR page durable: its containers (numbered from `expected.next_sequence`),
    /// the versions seen and the type's cursor, in one transaction, flushed before returning.
    fn commit_fhir<'a>(
        &'a self,
        connection: &'a str,
        expected: &'a ConnectionState,
        commit: FhirCommit,
        now: DateTime<Utc>,
    ) -> StoreFuture<'a, Vec<Container>>;
}

/// What a source that compares listings (or drops re-reads) keeps per record, by connection
/// and scope (see [`crate::model::records`]).
///
/// Guarantees: a page's records move in the same transaction as its containers and cursor
/// (and under the same `expected` check as [`PageStore::commit_page`]), so a record is never
/// marked as notified without its container, nor a container stored without its record; a
/// scan returns each scope's records in key order (bytes), one page at a time, so a window
/// of any size is walked in bounded memory.
pub trait RecordStore {
    /// The stored record of each key of `scope`, in the order of `keys` (`None` when absent).
    fn records<'a>(
        &'a self,
        connection: &'a str,
        scope: &'a str,
        keys: &'a [String],
    ) -> StoreFuture<'a, Vec<Option<Recorded>>>;

    /// Up to `limit` records of `scope` with a key after `after` (from the first when
    /// `None`), in key order.
    fn scan_records<'a>(
        &'a self,
        connection: &'a str,
        scope: &'a str,
        after: Option<&'a str>,
        limit: usize,
    ) -> StoreFuture<'a, Vec<(String, Recorded)>>;

    /// Makes a record page durable: its containers (numbered from `expected.next_sequence`),
    /// its records written or forgotten, and the cursor when it moves, in one transaction,
    /// flushed before returning.
    fn commit_records<'a>(
        &'a self,
        connection: &'a str,
        expected: &'a ConnectionState,
        commit: RecordCommit,
        now: DateTime<Utc>,
    ) -> StoreFuture<'a, Vec<Container>>;
}

/// A page of one connection's pending containers, in sequence order.
#[derive(Debug, Default)]
pub struct PendingPage {
    /// The containers; one that cannot be decoded is its error
    /// ([`StoreError::Corrupt`]), in its place, so one bad record cannot hold back the rest.
    pub items: Vec<Result<Container, StoreError>>,
    /// The sequence the next page starts from, or `None` when this page reached the end.
    pub next: Option<u64>,
}

/// Reading what waits to be delivered.
///
/// Guarantees: pages come in sequence order within one connection and never include another
/// connection's containers; a container is pending from the commit that wrote it until its
/// completion or dead letter. The backlog (count and oldest) is kept in memory with every
/// write that adds or removes a pending container, initialised when the store opens: a
/// scrape reads no more than the oldest container, and that only after it left.
pub trait PendingStore {
    /// Up to `limit` pending containers of `connection` with a sequence of at least `from`.
    fn pending_page<'a>(
        &'a self,
        connection: &'a str,
        from: u64,
        limit: usize,
    ) -> StoreFuture<'a, PendingPage>;

    /// Whether a container is still waiting (not delivered nor dead-lettered).
    fn is_pending<'a>(&'a self, connection: &'a str, sequence: u64) -> StoreFuture<'a, bool>;

    /// One pending container, if it is still pending.
    fn container<'a>(
        &'a self,
        connection: &'a str,
        sequence: u64,
    ) -> StoreFuture<'a, Option<Container>>;

    /// How many containers of `connection` are pending, and when the oldest (lowest sequence)
    /// was detected; from the counters, not a scan.
    fn backlog(&self, connection: &str) -> Result<(u64, Option<DateTime<Utc>>), StoreError>;

    /// Containers pending, all connections together (0 while the store is out of service).
    fn pending_count(&self) -> usize;
}

/// What becomes of a container once its notification went out.
///
/// Guarantees: a container leaves the pending ones only here. `complete` keeps the exact
/// delivered notifications (when `retain` is given) before it forgets their containers, so a
/// crash between the two only means one more same-id delivery; removals are durable with the
/// next flush, not at once. `dead_letter` moves the container to the dead letters in one
/// transaction, keeping it beside its letter for a retry. After a re-open, both only remove a
/// container that still holds the notification the caller delivered.
pub trait CompletionStore {
    /// Forgets delivered containers, first retaining them with `retain`.
    fn complete<'a>(
        &'a self,
        delivered: &'a [Delivered<'a>],
        retain: Option<Retain<'a>>,
    ) -> StoreFuture<'a, ()>;

    /// Moves a container whose retry schedule ran out to the dead letters.
    fn dead_letter<'a>(&'a self, letter: &'a DeadLetter) -> StoreFuture<'a, ()>;
}

/// Operator actions on dead letters.
///
/// Guarantees: a dead letter and its container share one key, so a retry moves the container
/// back to pending under its original id and sequence, in one transaction per letter; retries
/// and purges are flushed before they return; pages come in `<connection>/<sequence>` order.
pub trait DeadLetterStore {
    /// Up to `limit` dead letters matching `filter`, after the position `after` (a page's
    /// `next`).
    fn dead_letter_page<'a>(
        &'a self,
        filter: &'a DeadLetterFilter,
        after: Option<&'a str>,
        limit: usize,
    ) -> StoreFuture<'a, DeadLetterPage>;

    /// The dead letter of notification `id`, if there is one.
    fn find_dead_letter<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<DeadLetter>>;

    /// Sends the selected dead letters back to pending; answers those moved.
    fn retry_dead_letters<'a>(
        &'a self,
        selection: &'a DeadLetterSelection,
    ) -> StoreFuture<'a, Vec<DeadLetter>>;

    /// Deletes the selected dead letters for good; answers those deleted.
    fn purge_dead_letters<'a>(
        &'a self,
        selection: &'a DeadLetterSelection,
    ) -> StoreFuture<'a, Vec<DeadLetter>>;
}

/// A read of retained notifications under way, a page at a time.
pub trait RetainedReader: Send {
    /// The next (up to) `limit` notifications, in delivery order; empty at the end.
    fn next_page(&mut self, limit: usize) -> StoreFuture<'_, Vec<Retained>>;

    /// Damaged stretches skipped so far, each one notification or more.
    fn skipped(&self) -> u64;
}

/// What a destination's sweep deadline is, per destination.
pub type Cutoff = Box<dyn Fn(&str) -> DateTime<Utc> + Send>;

/// Delivered notifications retained for replay.
///
/// Guarantees: a replay reads exactly the bytes that were delivered, under their ids, in the
/// order they were delivered; a sweep deletes only what is older than its destination keeps.
pub trait RetainedStore {
    /// Starts reading the retained notifications in `range`.
    fn read_retained(&self, range: &RetainedRange) -> Box<dyn RetainedReader>;

    /// Number of retained notifications, every destination together (reads them all: for
    /// tests and diagnostics).
    fn retained_count(&self) -> StoreFuture<'_, usize>;

    /// Deletes what every destination no longer keeps (delivered before `cutoff(destination)`).
    fn sweep_retained(&self, cutoff: Cutoff) -> StoreFuture<'_, Swept>;
}

/// Whether the store answers, and making it durable.
///
/// Guarantees: after a write fault no call reads or writes the files open at the time until
/// the backend re-opened them from what is durable; `epoch` changes whenever that happens, so
/// a read that spans calls can tell it no longer reads the same files.
pub trait HealthStore {
    /// Whether the store answers, and the write fault that stopped it if not.
    fn health(&self) -> StoreHealth;

    /// How many times the files were re-opened after a write fault.
    fn reopens(&self) -> u64;

    /// Which opening of the files answers now: `None` while out of service.
    fn epoch(&self) -> Option<u64>;

    /// Reads from the store, so readiness can tell an answering store from a broken one.
    fn check(&self) -> StoreFuture<'_, ()>;

    /// Waits until everything written before the call is durable.
    fn flush(&self) -> StoreFuture<'_, ()>;
}

/// Everything a store backend does; what [`super::Store`] holds.
pub trait Backend:
    PageStore
    + FhirStore
    + RecordStore
    + PendingStore
    + CompletionStore
    + DeadLetterStore
    + RetainedStore
    + HealthStore
    + Send
    + Sync
{
}

impl<T> Backend for T where
    T: PageStore
        + FhirStore
        + RecordStore
        + PendingStore
        + CompletionStore
        + DeadLetterStore
        + RetainedStore
        + HealthStore
        + Send
        + Sync
{
}
