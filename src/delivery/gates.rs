//! `Gates`: every configured destination's [`DestinationGate`] and the connections that feed
//! it, shared by the app (pause, resume, backlog in status) and the supervisor, which brings
//! it in line with the configuration at start and at every reload.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};

use super::gate::DestinationGate;
use crate::clock::Clock;
use crate::config::Config;
use crate::escape::escaped;
use crate::status::{StatusBoard, StatusSnapshot};
use crate::store::{Store, StoreError};

/// An operator named a destination the configuration does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown destination \"{0}\"")]
pub struct UnknownDestination(pub String);

/// One destination's gate and the ids of the connections feeding it.
struct Fed {
    gate: Arc<DestinationGate>,
    connections: Vec<String>,
}

/// See the module doc.
#[derive(Clone)]
pub struct Gates {
    inner: Arc<Mutex<BTreeMap<String, Fed>>>,
    board: StatusBoard,
    /// The app's clock, handed to every gate.
    clock: Clock,
}

impl Gates {
    /// The gates of `config`'s destinations, each healthy, each timed by `clock`.
    pub fn new(config: &Config, board: StatusBoard, clock: Clock) -> Self {
        let gates = Self {
            inner: Arc::default(),
            board,
            clock,
        };
        gates.configure(config);
        gates
    }

    /// Brings the gates in line with `config` (a reload): a new destination gets a healthy
    /// gate; a destination kept keeps its gate, so its state (paused by an operator or by a
    /// `410 Gone`, failing) survives a change of its settings, and takes its new
    /// `failure_threshold`; a removed destination's gate is dropped.
    pub fn configure(&self, config: &Config) {
        let mut inner = self.lock();
        inner.retain(|id, _| config.destinations.contains_key(id));
        for (id, destination) in &config.destinations {
            let threshold = destination.failure_threshold;
            match inner.get_mut(id) {
                Some(fed) => {
                    fed.gate.set_threshold(threshold);
                    fed.connections.clear();
                }
                None => {
                    let (board, clock) = (self.board.clone(), self.clock.clone());
                    let gate = DestinationGate::with_clock(id, threshold, board, clock);
                    let fed = Fed {
                        gate: Arc::new(gate),
                        connections: Vec::new(),
                    };
                    inner.insert(id.clone(), fed);
                }
            }
        }
        for (id, connection) in &config.connections {
            if let Some(fed) = inner.get_mut(&connection.destination) {
                fed.connections.push(id.clone());
            }
        }
    }

    /// The app's clock, which times every gate: what the supervisor's sweeps and the
    /// operations read the time from.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The status board the gates show their states on (a replay records its attempts
    /// there too).
    pub fn board(&self) -> &StatusBoard {
        &self.board
    }

    /// Each configured connection's destination, by connection id: the console shows where
    /// a connection delivers.
    pub fn destination_of_connections(&self) -> BTreeMap<String, String> {
        let inner = self.lock();
        let pairs = inner.iter().flat_map(|(destination, fed)| {
            fed.connections
                .iter()
                .map(move |connection| (connection.clone(), destination.clone()))
        });
        pairs.collect()
    }

    /// Pauses destination `id`: nothing more is sent to it (what is on the wire finishes),
    /// its connections keep polling and storing, until [`Gates::resume`].
    pub fn pause(&self, id: &str) -> Result<(), UnknownDestination> {
        self.known(id)?.pause();
        Ok(())
    }

    /// Resumes destination `id`, paused by an operator or by a `410 Gone`: its stored backlog
    /// is dispatched in sequence order. Resuming a destination that is not paused does nothing.
    pub fn resume(&self, id: &str) -> Result<(), UnknownDestination> {
        self.known(id)?.resume();
        Ok(())
    }

    /// Fills in each destination's `backlog` and `oldest_pending_age_secs` of `snapshot`
    /// from the store (the board cannot know them: they are what is stored, not what moves),
    /// and the store's health; answers each connection's own backlog, read on the way, so a
    /// caller showing it does not read the store a second time. A backlog the store cannot
    /// read is left out (unknown), never counted as 0.
    pub fn fill_backlogs(
        &self,
        snapshot: &mut StatusSnapshot,
        store: &Store,
    ) -> BTreeMap<String, u64> {
        let now = self.clock.now();
        snapshot.store = store.health();
        let mut by_connection = BTreeMap::new();
        for (id, destination) in &mut snapshot.destinations {
            let (mut backlog, mut oldest) = (Some(0), None::<DateTime<Utc>>);
            for connection in self.feeds(id) {
                match store.backlog(&connection) {
                    Ok((count, first)) => {
                        backlog = backlog.map(|sum| sum + count);
                        by_connection.insert(connection, count);
                        oldest = match (oldest, first) {
                            (Some(a), Some(b)) => Some(a.min(b)),
                            (a, b) => a.or(b),
                        };
                    }
                    Err(err) => {
                        backlog = None;
                        // A store out of service is logged (and shown) as such already.
                        if !matches!(err, StoreError::Unavailable(_)) {
                            log::warn!("conn={connection} backlog unreadable: {}", escaped(&err));
                        }
                    }
                }
            }
            destination.backlog = backlog;
            destination.oldest_pending_age_secs =
                oldest.map(|at| (now - at).num_milliseconds().max(0) as f64 / 1000.0);
        }
        by_connection
    }

    fn known(&self, id: &str) -> Result<Arc<DestinationGate>, UnknownDestination> {
        self.get(id)
            .ok_or_else(|| UnknownDestination(id.to_owned()))
    }

    /// Destination `id`'s gate, if it is configured.
    pub fn get(&self, id: &str) -> Option<Arc<DestinationGate>> {
        self.lock().get(id).map(|fed| Arc::clone(&fed.gate))
    }

    /// The connections feeding destination `id`, for its backlog.
    pub fn feeds(&self, id: &str) -> Vec<String> {
        self.lock()
            .get(id)
            .map(|fed| fed.connections.clone())
            .unwrap_or_default()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Fed>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}
