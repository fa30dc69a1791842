//! Meters for the Prometheus exposition: counters and histograms recorded with atomics, so
//! recording on the delivery path costs a map lookup under a read lock and a few atomic adds,
//! never a lock held across an await.
//!
//! Only what the status board does not already count is recorded here (attempts by status
//! class, request latencies); [`exposition`] renders both into the text format.

pub mod exposition;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::delivery::sender::AttemptOutcome;

/// Upper bounds (seconds) of the latency histograms: from a loopback answer to a timeout.
pub const LATENCY_BUCKETS: [f64; 13] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// A latency histogram with [`LATENCY_BUCKETS`]; counts are per bucket (not cumulative) and
/// made cumulative when rendered.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    /// Observations above the last bucket.
    overflow: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        match LATENCY_BUCKETS.iter().position(|bound| secs <= *bound) {
            Some(i) => self.buckets[i].fetch_add(1, Ordering::Relaxed),
            None => self.overflow.fetch_add(1, Ordering::Relaxed),
        };
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Cumulative counts per bucket (the last one is `+Inf`, the total), and the sum in seconds.
    pub fn read(&self) -> (Vec<u64>, f64) {
        let mut total = 0;
        let mut cumulative: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| {
                total += b.load(Ordering::Relaxed);
                total
            })
            .collect();
        cumulative.push(total + self.overflow.load(Ordering::Relaxed));
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        (cumulative, sum)
    }
}

/// How a delivery attempt ended, coarsely: the `class` label of the attempts counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptClass {
    /// Any 2xx.
    Success,
    /// A 3xx (redirects are not followed).
    Redirect,
    /// A 4xx.
    ClientError,
    /// A 5xx.
    ServerError,
    /// No answer within the destination's timeout.
    Timeout,
    /// The TLS handshake failed.
    Tls,
    /// The connection could not be opened.
    Connect,
    /// The exchange broke off some other way (reset, malformed answer).
    Transport,
}

impl AttemptClass {
    /// Every class, in the order they are rendered.
    pub const ALL: [AttemptClass; 8] = [
        Self::Success,
        Self::Redirect,
        Self::ClientError,
        Self::ServerError,
        Self::Timeout,
        Self::Tls,
        Self::Connect,
        Self::Transport,
    ];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            Self::Success => "2xx",
            Self::Redirect => "3xx",
            Self::ClientError => "4xx",
            Self::ServerError => "5xx",
            Self::Timeout => "timeout",
            Self::Tls => "tls",
            Self::Connect => "connect",
            Self::Transport => "transport",
        }
    }

    /// Classifies an attempt's outcome; without a status, by the words of its error (the
    /// sender words timeouts and TLS failures in one way).
    pub fn of(outcome: &AttemptOutcome) -> Self {
        let (status, error) = match outcome {
            AttemptOutcome::Delivered { .. } => return Self::Success,
            AttemptOutcome::Failed { status, error, .. } => (*status, error.as_str()),
        };
        match status {
            Some(200..=299) => Self::Success,
            Some(300..=399) => Self::Redirect,
            Some(400..=499) => Self::ClientError,
            Some(_) => Self::ServerError,
            None if error.starts_with("timed out") || error.contains("imeout") => Self::Timeout,
            None if error.starts_with("TLS") => Self::Tls,
            None if opening_failed(error) => Self::Connect,
            None => Self::Transport,
        }
    }
}

/// Whether a transport error happened while opening the connection (awc words these
/// "Failed to connect …"; a refused connection says "refused").
fn opening_failed(error: &str) -> bool {
    let error = error.to_ascii_lowercase();
    error.contains("failed to connect") || error.contains("refused")
}

/// What is recorded per connection.
#[derive(Debug, Default)]
pub struct ConnectionMeters {
    /// Duration of each EHR request (polls, detail requests), once admitted by the pacing.
    pub ehr_request: Histogram,
}

/// What is recorded per destination.
#[derive(Debug, Default)]
pub struct DestinationMeters {
    attempts: [AtomicU64; AttemptClass::ALL.len()],
    /// Duration of each delivery attempt, request to response.
    pub latency: Histogram,
}

impl DestinationMeters {
    /// Records one attempt: its class and how long it took.
    pub fn attempt(&self, outcome: &AttemptOutcome, elapsed: Duration) {
        let class = AttemptClass::of(outcome);
        let index = AttemptClass::ALL.iter().position(|c| *c == class);
        self.attempts[index.unwrap_or_default()].fetch_add(1, Ordering::Relaxed);
        self.latency.observe(elapsed);
    }

    /// Attempts so far of each class.
    pub fn attempts(&self) -> impl Iterator<Item = (AttemptClass, u64)> + '_ {
        AttemptClass::ALL
            .iter()
            .zip(&self.attempts)
            .map(|(class, count)| (*class, count.load(Ordering::Relaxed)))
    }
}

/// Every meter of one running Courier, by connection and destination id; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Meters {
    inner: Arc<Registry>,
}

#[derive(Debug, Default)]
struct Registry {
    connections: RwLock<BTreeMap<String, Arc<ConnectionMeters>>>,
    /// The meters of connections a reload removed: one added back carries on from them, so
    /// its counters never go backwards within a process.
    retired: RwLock<BTreeMap<String, Arc<ConnectionMeters>>>,
    destinations: RwLock<BTreeMap<String, Arc<DestinationMeters>>>,
}

impl Meters {
    /// Connection `id`'s meters (created on first use); hold on to them where recording is
    /// frequent.
    pub fn connection(&self, id: &str) -> Arc<ConnectionMeters> {
        if let Some(found) = read(&self.inner.connections).get(id) {
            return Arc::clone(found);
        }
        let mut connections = write(&self.inner.connections);
        let revived = || write(&self.inner.retired).remove(id).unwrap_or_default();
        Arc::clone(connections.entry(id.to_owned()).or_insert_with(revived))
    }

    /// Destination `id`'s meters (created on first use).
    pub fn destination(&self, id: &str) -> Arc<DestinationMeters> {
        entry(&self.inner.destinations, id)
    }

    /// Every connection's meters, by id.
    pub fn connections(&self) -> BTreeMap<String, Arc<ConnectionMeters>> {
        read(&self.inner.connections).clone()
    }

    /// Every destination's meters, by id.
    pub fn destinations(&self) -> BTreeMap<String, Arc<DestinationMeters>> {
        read(&self.inner.destinations).clone()
    }

    /// Drops a connection a reload removed, keeping its meters for its return.
    pub fn forget_connection(&self, id: &str) {
        let mut connections = write(&self.inner.connections);
        if let Some(meters) = connections.remove(id) {
            write(&self.inner.retired).insert(id.to_owned(), meters);
        }
    }

    /// Drops a destination a reload removed.
    pub fn forget_destination(&self, id: &str) {
        write(&self.inner.destinations).remove(id);
    }
}

fn entry<T: Default>(map: &RwLock<BTreeMap<String, Arc<T>>>, id: &str) -> Arc<T> {
    if let Some(found) = read(map).get(id) {
        return Arc::clone(found);
    }
    Arc::clone(write(map).entry(id.to_owned()).or_default())
}

// A panic elsewhere while holding the lock leaves meters that are still meaningful.
fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests;
