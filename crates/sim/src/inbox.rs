//! What the simulated receiver got and how it answers: the record of every request, the
//! scripted statuses, and the counts that tell whether a run delivered everything exactly once.
//! Kept apart from the HTTP server so the bookkeeping is tested without one.

use std::collections::{BTreeSet, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::Notify;

use super::ledger::{Audit, Ledger};
use courier_wire::is_success;

/// One request as the receiver saw it and answered it.
#[derive(Debug, Clone)]
pub struct Received {
    /// The `webhook-id` header (empty when missing).
    pub id: String,
    /// The `webhook-timestamp` header (empty when missing).
    pub timestamp: String,
    /// The `webhook-signature` header (empty when missing).
    pub signature: String,
    /// The `Authorization` header, which a receiver behind a gateway checks.
    pub authorization: Option<String>,
    /// The `Content-Type` header (empty when missing), which says the body's format.
    pub content_type: String,
    /// The body exactly as received, which is what the signature covers.
    pub body: Vec<u8>,
    /// The body parsed, or `Null` when it is not JSON.
    pub json: Value,
    /// Whether the signature verified with the configured secret.
    pub verified: bool,
    /// The status the receiver answered with.
    pub answered: u16,
    /// When the request arrived, to measure latency and retry spacing.
    pub at: Instant,
}

impl Received {
    /// Whether the receiver acknowledged this request (a 2xx answer).
    pub fn accepted(&self) -> bool {
        is_success(self.answered)
    }
}

/// Counts that tell at a glance whether a run delivered everything exactly once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Distinct notification ids acknowledged.
    pub delivered: usize,
    /// Acknowledged requests whose id had already been acknowledged.
    pub duplicates: usize,
    /// Requests refused: unverified, or answered with a non-2xx status.
    pub failures: usize,
    /// Whether every request, accepted or not, carried a valid signature.
    pub all_verified: bool,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "delivered={} duplicates={} failures={}",
            self.delivered, self.duplicates, self.failures
        )
    }
}

/// A scripted answer: a status, with a `Retry-After` when set.
#[derive(Debug, Clone, Copy)]
pub(super) struct Answer {
    /// The status to answer with.
    pub(super) status: u16,
    /// The `Retry-After` header to add, in seconds.
    pub(super) retry_after_secs: Option<u64>,
}

#[derive(Debug)]
struct ReceiverState {
    /// Every request, when `keep_requests`; empty otherwise.
    received: Vec<Received>,
    /// Whether to keep every request in `received`; long runs rely on the ledger instead.
    keep_requests: bool,
    /// Requests answered 2xx, counted as they arrive so waiting on a count stays cheap.
    accepted: usize,
    /// Requests refused (unverified or answered non-2xx).
    failures: usize,
    /// Whether every request so far carried a valid signature.
    all_verified: bool,
    /// Identity of every distinct id answered 2xx, and the duplicates.
    ledger: Ledger,
    /// Answers for the next verified requests, in order.
    script: VecDeque<Answer>,
    /// The answer once the script is used up; 200 when unset.
    always: Option<u16>,
    /// Chance that an answer that would be a success is a 500 instead.
    failure_rate: f64,
    /// Record keys (`data.key`) refused with a status, whatever else is scripted.
    refused_keys: Vec<(String, u16)>,
    /// Added before every answer: a slow receiver.
    latency: Duration,
}

/// A handle on what the receiver got and how it answers; cheap to clone, usable from any
/// thread.
#[derive(Debug, Clone)]
pub struct ReceiverControl {
    state: Arc<Mutex<ReceiverState>>,
    /// Woken after every request, so waiters check their condition without polling.
    arrived: Arc<Notify>,
}

impl ReceiverControl {
    /// An empty inbox that answers 200 until scripted; it keeps every request for
    /// [`ReceiverControl::received`] only when `keep_requests`.
    pub(super) fn new(keep_requests: bool) -> Self {
        let state = ReceiverState {
            received: Vec::new(),
            keep_requests,
            accepted: 0,
            failures: 0,
            all_verified: true,
            ledger: Ledger::default(),
            script: VecDeque::new(),
            always: None,
            failure_rate: 0.0,
            refused_keys: Vec::new(),
            latency: Duration::ZERO,
        };
        Self {
            state: Arc::new(Mutex::new(state)),
            arrived: Arc::default(),
        }
    }

    /// Every request received, in arrival order, including refused ones; empty for a receiver
    /// started without `keep_requests`.
    pub fn received(&self) -> Vec<Received> {
        self.lock().received.clone()
    }

    /// The requests answered with 2xx, in arrival order; empty for a receiver started without
    /// `keep_requests`.
    pub fn accepted(&self) -> Vec<Received> {
        let state = self.lock();
        state
            .received
            .iter()
            .filter(|r| r.accepted())
            .cloned()
            .collect()
    }

    /// The distinct (key, version) pairs accepted for `connection`, and their sequences: what
    /// a test compares with the changes it made (a duplicate counts once in each).
    ///
    /// # Panics
    /// If an accepted notification of `connection` lacks its key, version or sequence.
    pub fn delivered_of(&self, connection: &str) -> (BTreeSet<(String, String)>, BTreeSet<u64>) {
        let mut changes = BTreeSet::new();
        let mut sequences = BTreeSet::new();
        for accepted in self.accepted() {
            let data = &accepted.json["data"];
            if data["connection"] != connection {
                continue;
            }
            let text = |field: &str| data[field].as_str().expect(field).to_owned();
            changes.insert((text("key"), text("version")));
            sequences.insert(data["sequence"].as_u64().expect("sequence"));
        }
        (changes, sequences)
    }

    /// Distinct notification ids acknowledged.
    pub fn unique_accepted_ids(&self) -> usize {
        self.lock().ledger.distinct()
    }

    /// Delivered, duplicate and failed counts, and whether every signature verified.
    pub fn summary(&self) -> Summary {
        let state = self.lock();
        Summary {
            delivered: state.ledger.distinct(),
            duplicates: state.ledger.duplicates(),
            failures: state.failures,
            all_verified: state.all_verified,
        }
    }

    /// Checks every acknowledged notification's identity: gap-free sequences per connection,
    /// one id per change and one change per id. See [`Ledger::audit`].
    pub fn audit(&self) -> Audit {
        self.lock().ledger.audit()
    }

    /// Runs `look` on the ledger of acknowledged notifications, under the receiver's lock.
    pub fn with_ledger<R>(&self, look: impl FnOnce(&Ledger) -> R) -> R {
        look(&self.lock().ledger)
    }

    /// Answers each verified request that would have succeeded with 500 instead, at random,
    /// with probability `rate` (0 to 1): a flaky destination. Scripted answers are kept.
    pub fn fail_randomly(&self, rate: f64) {
        self.lock().failure_rate = rate.clamp(0.0, 1.0);
    }

    /// Answers the next verified requests with `statuses`, in order (after any answers already
    /// scripted), then falls back to 200 or to [`ReceiverControl::always`].
    pub fn respond_with(&self, statuses: Vec<u16>) {
        self.lock()
            .script
            .extend(statuses.into_iter().map(|status| Answer {
                status,
                retry_after_secs: None,
            }));
    }

    /// Answers the next `times` verified requests with `status` and `Retry-After: secs`.
    pub fn respond_with_retry_after(&self, status: u16, secs: u64, times: usize) {
        let answer = Answer {
            status,
            retry_after_secs: Some(secs),
        };
        self.lock()
            .script
            .extend(std::iter::repeat_n(answer, times));
    }

    /// Answers every verified request with `status` until told otherwise; drops any script, so
    /// "every" holds from the next request. `always(200)` restores the default.
    pub fn always(&self, status: u16) {
        let mut state = self.lock();
        state.script.clear();
        state.always = Some(status);
    }

    /// Answers every notification about record `key` (its `data.key`) with `status`, before
    /// any script: a receiver that chokes on one record. `status` 200 lifts the refusal.
    pub fn refuse_key(&self, key: &str, status: u16) {
        let mut state = self.lock();
        state.refused_keys.retain(|(k, _)| k != key);
        if !is_success(status) {
            state.refused_keys.push((key.to_owned(), status));
        }
    }

    /// Waits `latency` before every answer from the next request on, to simulate a slow
    /// receiver (`Duration::ZERO` restores the default).
    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    /// The wait before every answer (see [`ReceiverControl::set_latency`]).
    pub fn latency(&self) -> Duration {
        self.lock().latency
    }

    /// Waits until at least `n` requests were answered 2xx, or `timeout` passes; returns
    /// whether the count was reached.
    pub async fn wait_for_accepted(&self, n: usize, timeout: Duration) -> bool {
        self.wait_until(timeout, |state| state.accepted >= n).await
    }

    /// Waits until at least `n` distinct ids were answered 2xx, or `timeout` passes; returns
    /// whether the count was reached.
    pub async fn wait_for_distinct(&self, n: usize, timeout: Duration) -> bool {
        self.wait_until(timeout, |state| state.ledger.distinct() >= n)
            .await
    }

    async fn wait_until(&self, timeout: Duration, done: impl Fn(&ReceiverState) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Register interest before checking, so a request that lands in between still
            // wakes us.
            let mut arrived = std::pin::pin!(self.arrived.notified());
            arrived.as_mut().enable();
            if done(&self.lock()) {
                return true;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return done(&self.lock());
            }
        }
    }

    /// A poisoned lock only means a test thread panicked mid-call; carry on rather than
    /// cascade.
    fn lock(&self) -> MutexGuard<'_, ReceiverState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The answer for a request whose signature did (or did not) verify, with body `json`.
    pub(super) fn next_answer(&self, verified: bool, json: &Value) -> Answer {
        if !verified {
            return Answer {
                status: 401,
                retry_after_secs: None,
            };
        }
        let mut state = self.lock();
        let key = json["data"]["key"].as_str();
        if let Some((_, status)) = state
            .refused_keys
            .iter()
            .find(|(k, _)| Some(k.as_str()) == key)
        {
            let status = *status;
            return Answer {
                status,
                retry_after_secs: None,
            };
        }
        if let Some(scripted) = state.script.pop_front() {
            return scripted;
        }
        let mut status = state.always.unwrap_or(200);
        if is_success(status) && state.failure_rate > 0.0 && fastrand::f64() < state.failure_rate {
            status = 500;
        }
        Answer {
            status,
            retry_after_secs: None,
        }
    }

    pub(super) fn record(&self, request: Received) {
        let mut state = self.lock();
        state.all_verified &= request.verified;
        if request.accepted() {
            state.accepted += 1;
            state.ledger.accept(&request.id, &request.json);
        } else {
            state.failures += 1;
        }
        if state.keep_requests {
            state.received.push(request);
        }
        drop(state);
        self.arrived.notify_waiters();
    }
}

#[cfg(test)]
impl Received {
    /// A request as the receiver would record it, for unit tests.
    pub(super) fn sample(id: &str, answered: u16, verified: bool) -> Self {
        Self {
            id: id.to_owned(),
            timestamp: String::new(),
            signature: String::new(),
            authorization: None,
            content_type: String::new(),
            body: Vec::new(),
            json: Value::Null,
            verified,
            answered,
            at: Instant::now(),
        }
    }
}

#[cfg(test)]
mod tests;
