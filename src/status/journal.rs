//! The activity journal: what the console shows of the recent past. Per connection its last
//! polls and notifications, per destination its last attempts, and deliveries per minute of
//! both, all in memory and bounded (a restart forgets it; the store keeps what matters).
//!
//! Invariants: every ring holds at most its bound, and recording an event costs a hash
//! lookup, a scan of at most one ring and a push (no growth once a ring is full). A
//! connection's or destination's rings are allocated on its first activity, so 10,000
//! connections that never deliver cost their map entries and poll rings only. Nothing here
//! holds a body or patient detail: ids, record keys, event types, counts, statuses and times.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::model::{Container, Notification};

mod entries;
mod rate;
#[cfg(test)]
mod tests;

pub use entries::{
    AttemptEntry, AttemptOutcome, Attempted, NotificationEntry, Outcome, PollEntry, PollOutcome,
    Shared,
};
pub use rate::Rate;

/// Polls kept per connection: enough to see a pattern of failures at a glance.
pub const POLLS_KEPT: usize = 20;
/// Notifications kept per connection.
pub const NOTIFICATIONS_KEPT: usize = 50;
/// Attempts kept per destination.
pub const ATTEMPTS_KEPT: usize = 100;

/// A connection's recent activity.
#[derive(Debug, Default)]
struct ConnectionLog {
    polls: VecDeque<PollEntry>,
    notifications: VecDeque<NotificationEntry>,
    delivered: Rate,
    /// Event types seen, so entries share one allocation per type (a connection has few).
    event_types: Vec<Shared>,
}

/// A destination's recent activity.
#[derive(Debug, Default)]
struct DestinationLog {
    attempts: VecDeque<AttemptEntry>,
    delivered: Rate,
    /// The destination's id, shared by the notification entries that go there.
    id: Option<Shared>,
}

/// The journal; see the module doc. Reached through [`super::StatusBoard::journal`].
#[derive(Debug, Default)]
pub struct Journal {
    connections: Mutex<HashMap<Box<str>, ConnectionLog>>,
    destinations: Mutex<HashMap<Box<str>, DestinationLog>>,
}

/// What the journal shows of one connection.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ConnectionView {
    /// Its polls, newest first.
    pub polls: Vec<PollEntry>,
    /// Its notifications, newest first.
    pub notifications: Vec<NotificationEntry>,
    /// Notifications delivered in the last minute.
    pub delivered_per_min: u64,
}

/// What the journal shows of one destination.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DestinationView {
    /// Its attempts, newest first.
    pub attempts: Vec<AttemptEntry>,
    /// Notifications delivered in the last minute.
    pub delivered_per_min: u64,
}

/// A notification found in the journal, with its connection.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// The connection that produced it.
    pub connection: String,
    /// The entry.
    pub entry: NotificationEntry,
}

/// What a lookup in the journal asks for.
#[derive(Debug, Clone, Copy)]
pub enum Lookup<'a> {
    /// A notification id.
    Id(&'a str),
    /// A record key, optionally of one connection.
    Key(&'a str, Option<&'a str>),
    /// A connection's sequence number.
    Sequence(&'a str, u64),
}

fn push_bounded<T>(ring: &mut VecDeque<T>, bound: usize, item: T) {
    if ring.capacity() == 0 {
        ring.reserve_exact(bound);
    }
    if ring.len() == bound {
        ring.pop_front();
    }
    ring.push_back(item);
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere while holding the lock leaves entries that are still meaningful.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The `type` of a notification body, read only when a notification is first seen at an
/// attempt (a replay, a retried dead letter, a container dispatched again after a restart).
pub fn event_type_of(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Typed {
        #[serde(rename = "type")]
        event_type: Option<String>,
    }
    serde_json::from_slice::<Typed>(body).ok()?.event_type
}

impl ConnectionLog {
    fn event_type(&mut self, name: &str) -> Shared {
        if let Some(shared) = self.event_types.iter().find(|t| t.as_str() == name) {
            return shared.clone();
        }
        let shared = Shared(Arc::from(name));
        self.event_types.push(shared.clone());
        shared
    }

    fn notification(&mut self, sequence: u64) -> Option<&mut NotificationEntry> {
        self.notifications
            .iter_mut()
            .rev()
            .find(|n| n.sequence == sequence)
    }
}

impl Journal {
    /// Records a poll of connection `id`.
    pub fn poll(&self, id: &str, entry: PollEntry) {
        let mut connections = lock(&self.connections);
        push_bounded(
            &mut Self::log_of(&mut connections, id).polls,
            POLLS_KEPT,
            entry,
        );
    }

    /// Records the containers one poll of a connection created, as pending notifications
    /// to `destination`. Takes the lock once per page, and builds entries only for the last
    /// [`NOTIFICATIONS_KEPT`] of it: the earlier ones would be pushed out by the later ones
    /// at once (a page holds up to thousands).
    pub fn created(&self, destination: &str, containers: &[Container]) {
        let Some(first) = containers.first() else {
            return;
        };
        let destination = self.destination_id(destination);
        let mut connections = lock(&self.connections);
        let log = Self::log_of(&mut connections, &first.connection);
        let kept = &containers[containers.len().saturating_sub(NOTIFICATIONS_KEPT)..];
        for container in kept {
            debug_assert_eq!(
                container.connection, first.connection,
                "one connection's page"
            );
            let event_type = Some(log.event_type(&container.event_type));
            let entry = NotificationEntry {
                id: container.notification_id.as_str().into(),
                sequence: container.sequence,
                key: container.key.as_str().into(),
                event_type,
                destination: destination.clone(),
                outcome: Outcome::Pending,
                attempts: 0,
                last_status: None,
                at: container.detected_at,
            };
            push_bounded(&mut log.notifications, NOTIFICATIONS_KEPT, entry);
        }
    }

    /// Records an attempt to deliver `notification` to `destination`: in the destination's
    /// attempts, and on the notification's entry (added when it was not seen before).
    pub fn attempt(&self, destination: &str, notification: &Notification, attempt: Attempted<'_>) {
        let delivered = attempt.error.is_none();
        let shared = {
            let mut destinations = lock(&self.destinations);
            let log = Self::destination_log(&mut destinations, destination);
            if delivered {
                log.delivered.add(attempt.at);
            }
            let entry = AttemptEntry {
                at: attempt.at,
                notification_id: notification.id.as_str().into(),
                connection: notification.connection.as_str().into(),
                sequence: notification.sequence,
                status: attempt.status,
                latency_ms: u32::try_from(attempt.latency.as_millis()).unwrap_or(u32::MAX),
                outcome: match delivered {
                    true => AttemptOutcome::Delivered,
                    false => AttemptOutcome::Failed,
                },
                error: attempt.error.map(Into::into),
            };
            push_bounded(&mut log.attempts, ATTEMPTS_KEPT, entry);
            log.id.clone()
        };
        let outcome = match delivered {
            true => Outcome::Delivered,
            false => Outcome::Retrying,
        };
        let shared = shared.unwrap_or_else(|| self.destination_id(destination));
        let mut connections = lock(&self.connections);
        let log = Self::log_of(&mut connections, &notification.connection);
        if delivered {
            log.delivered.add(attempt.at);
        }
        let entry = Self::entry_of(log, notification, shared);
        entry.attempts = entry.attempts.saturating_add(1);
        entry.last_status = attempt.status.or(entry.last_status);
        entry.outcome = outcome;
        entry.at = attempt.at;
    }

    /// Marks `notification` as moved to the dead letters of `destination`.
    pub fn dead_lettered(&self, destination: &str, notification: &Notification, at: DateTime<Utc>) {
        self.settle(destination, notification, Outcome::DeadLetter, at);
    }

    /// Marks `notification` as pending again: let go while its destination fails, or sent
    /// back from the dead letters.
    pub fn pending_again(&self, destination: &str, notification: &Notification, at: DateTime<Utc>) {
        self.settle(destination, notification, Outcome::Pending, at);
    }

    /// Marks the notification of `connection` at `sequence` as pending again after an
    /// operator sent its dead letter back, when the journal still holds it (it shows as
    /// pending until its next attempt, which may wait for a paused destination).
    pub fn retried(&self, connection: &str, sequence: u64, at: DateTime<Utc>) {
        let mut connections = lock(&self.connections);
        let entry = connections
            .get_mut(connection)
            .and_then(|log| log.notification(sequence));
        if let Some(entry) = entry {
            entry.outcome = Outcome::Pending;
            entry.at = at;
        }
    }

    fn settle(
        &self,
        destination: &str,
        notification: &Notification,
        outcome: Outcome,
        at: DateTime<Utc>,
    ) {
        let shared = self.destination_id(destination);
        let mut connections = lock(&self.connections);
        let log = Self::log_of(&mut connections, &notification.connection);
        let entry = Self::entry_of(log, notification, shared);
        entry.outcome = outcome;
        entry.at = at;
    }

    /// Forgets connection `id` (a reload removed it).
    pub fn forget_connection(&self, id: &str) {
        lock(&self.connections).remove(id);
    }

    /// Forgets destination `id` (a reload removed it).
    pub fn forget_destination(&self, id: &str) {
        lock(&self.destinations).remove(id);
    }

    /// Connection `id`'s recent activity, newest first, with its rate at `now`.
    pub fn connection(&self, id: &str, now: DateTime<Utc>) -> ConnectionView {
        let connections = lock(&self.connections);
        let Some(log) = connections.get(id) else {
            return ConnectionView::default();
        };
        ConnectionView {
            polls: log.polls.iter().rev().cloned().collect(),
            notifications: log.notifications.iter().rev().cloned().collect(),
            delivered_per_min: log.delivered.per_min(now),
        }
    }

    /// Destination `id`'s recent attempts, newest first, with its rate at `now`.
    pub fn destination(&self, id: &str, now: DateTime<Utc>) -> DestinationView {
        let destinations = lock(&self.destinations);
        let Some(log) = destinations.get(id) else {
            return DestinationView::default();
        };
        DestinationView {
            attempts: log.attempts.iter().rev().cloned().collect(),
            delivered_per_min: log.delivered.per_min(now),
        }
    }

    /// Deliveries in the minute before `now` of every connection that delivered (absent:
    /// none) and of every destination. Connections are read first, the reverse of the order
    /// an attempt records a delivery in (its destination, then its connection), so what the
    /// rows count, the totals count too; a total may count a delivery a moment before its row.
    pub fn rates(&self, now: DateTime<Utc>) -> (HashMap<String, u64>, HashMap<String, u64>) {
        let per_min = |(id, rate): (&str, &Rate)| (id.to_owned(), rate.per_min(now));
        let connections = lock(&self.connections)
            .iter()
            .map(|(id, log)| (&**id, &log.delivered))
            .map(per_min)
            .filter(|(_, n)| *n > 0)
            .collect();
        let destinations = lock(&self.destinations)
            .iter()
            .map(|(id, log)| (&**id, &log.delivered))
            .map(per_min)
            .collect();
        (connections, destinations)
    }

    /// The notifications `lookup` names that the journal still holds, newest first within a
    /// connection.
    pub fn find(&self, lookup: Lookup<'_>) -> Vec<Found> {
        let connections = lock(&self.connections);
        let matches = |entry: &NotificationEntry, connection: &str| match lookup {
            Lookup::Id(id) => &*entry.id == id,
            Lookup::Key(key, only) => &*entry.key == key && only.is_none_or(|c| c == connection),
            Lookup::Sequence(of, sequence) => of == connection && entry.sequence == sequence,
        };
        let found = |(connection, log): (&str, &ConnectionLog)| {
            log.notifications
                .iter()
                .rev()
                .filter(|entry| matches(entry, connection))
                .map(|entry| Found {
                    connection: connection.to_string(),
                    entry: entry.clone(),
                })
                .collect::<Vec<_>>()
        };
        match lookup {
            Lookup::Sequence(connection, _) | Lookup::Key(_, Some(connection)) => connections
                .get_key_value(connection)
                .map(|(id, log)| found((id, log)))
                .unwrap_or_default(),
            _ => connections
                .iter()
                .flat_map(|(id, log)| found((id, log)))
                .collect(),
        }
    }

    fn log_of<'m>(
        connections: &'m mut HashMap<Box<str>, ConnectionLog>,
        id: &str,
    ) -> &'m mut ConnectionLog {
        // Looked up first: the id is copied only for a connection's first event.
        if !connections.contains_key(id) {
            connections.insert(id.into(), ConnectionLog::default());
        }
        connections.get_mut(id).expect("inserted above")
    }

    fn destination_log<'m>(
        destinations: &'m mut HashMap<Box<str>, DestinationLog>,
        id: &str,
    ) -> &'m mut DestinationLog {
        if !destinations.contains_key(id) {
            let log = DestinationLog {
                id: Some(Shared(Arc::from(id))),
                ..DestinationLog::default()
            };
            destinations.insert(id.into(), log);
        }
        destinations.get_mut(id).expect("inserted above")
    }

    /// The shared id of destination `id`, creating its (empty) log.
    fn destination_id(&self, id: &str) -> Shared {
        let mut destinations = lock(&self.destinations);
        let log = Self::destination_log(&mut destinations, id);
        log.id.clone().expect("set at creation")
    }

    /// The entry of `notification`, added (with its event type from its body) when the
    /// journal has not seen it: a replay, a retried dead letter, or a container dispatched
    /// again after a restart.
    fn entry_of<'l>(
        log: &'l mut ConnectionLog,
        notification: &Notification,
        destination: Shared,
    ) -> &'l mut NotificationEntry {
        if log.notification(notification.sequence).is_none() {
            let event_type = event_type_of(&notification.body).map(|t| log.event_type(&t));
            let entry = NotificationEntry {
                id: notification.id.as_str().into(),
                sequence: notification.sequence,
                key: notification.key.as_str().into(),
                event_type,
                destination,
                outcome: Outcome::Pending,
                attempts: 0,
                last_status: None,
                at: DateTime::<Utc>::MIN_UTC,
            };
            push_bounded(&mut log.notifications, NOTIFICATIONS_KEPT, entry);
        }
        log.notification(notification.sequence)
            .expect("present or pushed above")
    }
}
