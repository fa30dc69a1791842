//! What every connection and destination is doing right now: the one place an operator (and a
//! test) looks to see that polling is healthy and deliveries keep up.
//!
//! Actors write here as things happen; readers take a [`StatusSnapshot`]. Nothing here holds
//! patient data: only ids, counts, times and error texts built from statuses and pointers.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::store::StoreHealth;

pub mod journal;

use journal::Journal;

/// What a connection is doing.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ConnectionState {
    /// Started, not yet polled.
    Starting,
    /// A poll is under way.
    Polling,
    /// Waiting for the next poll.
    Idle,
    /// The last poll failed; the next is due at `until`.
    BackingOff {
        /// When the next attempt is due.
        until: DateTime<Utc>,
    },
    /// Paused by an operator: no polls until resumed; stored changes are still delivered.
    Paused,
    /// The connection failed hard (a panic) and is being restarted.
    Restarting,
    /// Polling stopped for shutdown.
    Stopped,
}

/// One connection's status.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectionStatus {
    /// Current activity.
    #[serde(flatten)]
    pub state: ConnectionState,
    /// The stored cursor, shown as soon as a page is committed (before its containers are
    /// dispatched).
    pub cursor: Option<String>,
    /// When a poll last succeeded.
    pub last_success: Option<DateTime<Utc>>,
    /// The last error, until the next success.
    pub last_error: Option<String>,
    /// Failed polls since the last success.
    pub consecutive_failures: u32,
    /// Successful polls (pages).
    pub polls_ok: u64,
    /// Failed polls.
    pub polls_failed: u64,
    /// Failed polls by kind of failure (`timeout`, `cursor_kind`, `clock_skew`…), so a feed
    /// whose positions Courier refuses is told apart from an EHR that is down.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub poll_failures: BTreeMap<String, u64>,
    /// Containers created (changes seen), counted as soon as their page is committed.
    pub changes: u64,
    /// Failed enrichment attempts (each retried).
    pub enrich_failures: u64,
    /// The last enrichment error, until an enrichment succeeds.
    pub enrich_error: Option<String>,
    /// Items a feed returned from before the cursor, dropped as already taken. Steadily
    /// growing, it means the feed's `since` is coarser than its positions.
    pub items_behind_cursor: u64,
    /// Times the connection was restarted after a failure.
    pub restarts: u64,
    /// Lasting conditions that do not stop polling but that an operator should know, such
    /// as a FHIR server without type-level history (its deletions go unseen).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl Default for ConnectionStatus {
    fn default() -> Self {
        Self {
            state: ConnectionState::Starting,
            cursor: None,
            last_success: None,
            last_error: None,
            consecutive_failures: 0,
            polls_ok: 0,
            polls_failed: 0,
            poll_failures: BTreeMap::new(),
            changes: 0,
            enrich_failures: 0,
            enrich_error: None,
            items_behind_cursor: 0,
            restarts: 0,
            warnings: Vec::new(),
        }
    }
}

/// Whether a destination takes notifications (see `crate::delivery::health`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DestinationState {
    /// Delivering.
    #[default]
    Healthy,
    /// Failed attempts in a row: one probe goes out, the rest waits in the store.
    Failing,
    /// Nothing goes out until an operator resumes it (after a `410 Gone`, or by an operator).
    Paused,
}

/// One destination's status.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DestinationStatus {
    /// Healthy, failing or paused.
    pub state: DestinationState,
    /// Why it is failing (the last error) or paused (`410 Gone`, or by an operator).
    pub state_reason: Option<String>,
    /// Since when it is in its state.
    pub state_since: Option<DateTime<Utc>>,
    /// Containers of its connections waiting in the store (filled in by `App::status`);
    /// `None` (shown as unknown) while the store cannot be read, never a false 0.
    pub backlog: Option<u64>,
    /// Age of the oldest of them, in seconds (filled in by `App::status`).
    pub oldest_pending_age_secs: Option<f64>,
    /// Notifications acknowledged with 2xx.
    pub delivered: u64,
    /// Attempts that failed (each retried or dead-lettered).
    pub failed_attempts: u64,
    /// Notifications given up after the retry schedule.
    pub dead_lettered: u64,
    /// Notifications being attempted or waiting for a retry.
    pub in_flight: u64,
    /// HTTP requests on the wire right now.
    pub sending: u64,
    /// The last failure, until the next success.
    pub last_error: Option<String>,
}

/// A consistent copy of the whole board.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StatusSnapshot {
    /// By connection id.
    pub connections: BTreeMap<String, ConnectionStatus>,
    /// By destination id.
    pub destinations: BTreeMap<String, DestinationStatus>,
    /// Whether the store answers (filled in by `App::status` and the admin API).
    pub store: StoreHealth,
}

/// The shared, thread-safe board; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct StatusBoard {
    inner: Arc<Mutex<StatusSnapshot>>,
    /// The entries of connections a reload removed, by id: one added back later in this
    /// process carries on counting from them, so a counter such as `courier_changes_total`
    /// never goes backwards within a process. Locked after `inner`, never before.
    retired: Arc<Mutex<BTreeMap<String, ConnectionStatus>>>,
    /// Counters and histograms recorded without the board's lock (see [`crate::metrics`]).
    meters: crate::metrics::Meters,
    /// Recent polls, notifications and attempts, for the console (see [`journal`]); it
    /// locks on its own, never under `inner`.
    journal: Arc<Journal>,
}

impl StatusBoard {
    /// Updates one connection's entry (created on first use), returning what `update` returns
    /// so a caller can log only state changes.
    pub fn connection<R>(&self, id: &str, update: impl FnOnce(&mut ConnectionStatus) -> R) -> R {
        let mut board = self.lock();
        let entry = match board.connections.entry(id.to_owned()) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => entry.insert(self.revived(id)),
        };
        update(entry)
    }

    /// A new entry for connection `id`: its counters from before a reload removed it, if it
    /// ran in this process before; its state and errors start afresh.
    fn revived(&self, id: &str) -> ConnectionStatus {
        let retired = self
            .retired
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
        let Some(old) = retired else {
            return ConnectionStatus::default();
        };
        ConnectionStatus {
            polls_ok: old.polls_ok,
            polls_failed: old.polls_failed,
            changes: old.changes,
            enrich_failures: old.enrich_failures,
            items_behind_cursor: old.items_behind_cursor,
            restarts: old.restarts,
            ..ConnectionStatus::default()
        }
    }

    /// Updates one destination's entry (created on first use), returning what `update` returns.
    pub fn destination<R>(&self, id: &str, update: impl FnOnce(&mut DestinationStatus) -> R) -> R {
        update(self.lock().destinations.entry(id.to_owned()).or_default())
    }

    /// Removes a connection that a reload stopped, so status and metrics stop showing it;
    /// its counters are kept for when a reload adds it back.
    pub fn forget_connection(&self, id: &str) {
        let mut board = self.lock();
        if let Some(old) = board.connections.remove(id) {
            let mut retired = self.retired.lock().unwrap_or_else(PoisonError::into_inner);
            retired.insert(id.to_owned(), old);
        }
        drop(board);
        self.meters.forget_connection(id);
        self.journal.forget_connection(id);
    }

    /// Removes a destination that a reload dropped.
    pub fn forget_destination(&self, id: &str) {
        self.lock().destinations.remove(id);
        self.meters.forget_destination(id);
        self.journal.forget_destination(id);
    }

    /// The activity journal every actor records into and the console reads.
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// The lock-free meters that delivery and the EHR client record into.
    pub fn meters(&self) -> &crate::metrics::Meters {
        &self.meters
    }

    /// A copy of connection `id`'s entry, without creating one.
    pub fn connection_status(&self, id: &str) -> Option<ConnectionStatus> {
        self.lock().connections.get(id).cloned()
    }

    /// A copy of the destinations alone (no connections): what a page about destinations
    /// reads, without copying 10,000 connections' entries.
    pub fn destinations_snapshot(&self) -> StatusSnapshot {
        StatusSnapshot {
            destinations: self.lock().destinations.clone(),
            ..StatusSnapshot::default()
        }
    }

    /// A copy of everything.
    pub fn snapshot(&self) -> StatusSnapshot {
        self.lock().clone()
    }

    fn lock(&self) -> MutexGuard<'_, StatusSnapshot> {
        // A panic elsewhere while holding the lock leaves counters that are still meaningful.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// `1 connection`, `2 connections`: a count in a line people read (the nouns Courier counts
/// all take an `s`).
pub fn counted(n: usize, noun: &str) -> String {
    match n {
        1 => format!("1 {noun}"),
        n => format!("{n} {noun}s"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_is_singular_and_every_other_count_plural() {
        assert_eq!(super::counted(1, "connection"), "1 connection");
        assert_eq!(super::counted(0, "destination"), "0 destinations");
        assert_eq!(super::counted(12, "worker"), "12 workers");
    }

    use std::time::Duration;

    use super::*;

    #[test]
    fn a_connection_removed_and_added_back_keeps_its_counters_but_not_its_state() {
        let board = StatusBoard::default();
        board.connection("c", |c| {
            c.changes = 200;
            c.polls_ok = 7;
            c.state = ConnectionState::Idle;
            c.cursor = Some("200".into());
        });
        let meters = board.meters().connection("c");
        meters.ehr_request.observe(Duration::from_millis(3));
        board.forget_connection("c");
        assert!(!board.snapshot().connections.contains_key("c"));
        assert!(!board.meters().connections().contains_key("c"));

        board.connection("c", |c| c.changes += 50);
        let back = &board.snapshot().connections["c"];
        assert_eq!((back.changes, back.polls_ok), (250, 7));
        assert_eq!(back.state, ConnectionState::Starting);
        assert_eq!(back.cursor, None);
        let (counts, _) = board.meters().connection("c").ehr_request.read();
        assert_eq!(counts.last(), Some(&1), "the histogram carries on too");
    }
}
