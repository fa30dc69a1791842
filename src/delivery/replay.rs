//! Replay: sending retained notifications of one destination again, exactly as they were
//! delivered (same body, same `webhook-id`, a fresh `webhook-timestamp` and signature),
//! straight to the destination and not through the pipeline.
//!
//! One attempt per notification: a replay is an operator's request to be run again if some
//! fail, not a delivery with a retry schedule. Its progress is shared so the admin API can
//! show it while it runs.

use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use serde::Serialize;

use super::sender::{attempt, destination_client, AttemptOutcome};
use crate::clock::Clock;
use crate::config::DestinationConfig;
use crate::model::Notification;
use crate::status::journal::Attempted;
use crate::status::StatusBoard;
use crate::store::{RetainedRange, Store, StoreError};

/// Requests a replay keeps on the wire at once, at most (and never more than the
/// destination's `max_in_flight`): enough to replay hours quickly, few enough that the
/// receiver's live traffic keeps flowing beside it.
const REPLAY_CONCURRENCY: usize = 16;
/// Failures listed by id in the progress; the count covers the rest.
const FAILURES_LISTED: usize = 20;

/// Where a replay is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplayState {
    /// Sending.
    Running,
    /// Every notification in the range was attempted once.
    Finished,
    /// The store could not be read; `error` says why.
    Aborted,
}

/// One notification the destination did not accept during a replay.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplayFailure {
    /// The notification id.
    pub id: String,
    /// What went wrong.
    pub error: String,
}

/// A replay's progress, as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplayProgress {
    /// Where it is.
    pub state: ReplayState,
    /// The destination replayed to.
    pub destination: String,
    /// Notifications in the range when the replay started.
    pub total: u64,
    /// Accepted (2xx) by the destination.
    pub sent: u64,
    /// Refused or unreachable.
    pub failed: u64,
    /// Damaged stretches of the retained files skipped, each one notification or more that
    /// could not be read back (the log says which file and byte).
    pub skipped: u64,
    /// The first failures, by id.
    pub failures: Vec<ReplayFailure>,
    /// Why the replay stopped early, when it did.
    pub error: Option<String>,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
}

/// A replay's progress, shared between the job sending and whoever asks, and the clock it
/// is timed and signed by; cheap to clone.
#[derive(Debug, Clone)]
pub struct ReplayHandle(Arc<Mutex<ReplayProgress>>, Clock);

impl ReplayHandle {
    /// The progress of a replay of `total` notifications to `destination`, starting now by
    /// `clock`.
    pub fn new(destination: &str, total: u64, clock: Clock) -> Self {
        let started_at = clock.now();
        let progress = Arc::new(Mutex::new(ReplayProgress {
            state: ReplayState::Running,
            destination: destination.to_owned(),
            total,
            sent: 0,
            failed: 0,
            skipped: 0,
            failures: Vec::new(),
            error: None,
            started_at,
            finished_at: None,
        }));
        Self(progress, clock)
    }

    /// A copy of the progress now.
    pub fn progress(&self) -> ReplayProgress {
        self.lock().clone()
    }

    fn record(&self, notification: &Notification, outcome: AttemptOutcome) {
        let mut progress = self.lock();
        match outcome {
            AttemptOutcome::Delivered { .. } => progress.sent += 1,
            AttemptOutcome::Failed { error, .. } => {
                progress.failed += 1;
                if progress.failures.len() < FAILURES_LISTED {
                    let id = notification.id.clone();
                    progress.failures.push(ReplayFailure { id, error });
                }
            }
        }
    }

    fn skipped(&self, skipped: u64) {
        self.lock().skipped = skipped;
    }

    fn finish(&self, error: Option<String>) {
        let mut progress = self.lock();
        progress.state = match error {
            Some(_) => ReplayState::Aborted,
            None => ReplayState::Finished,
        };
        progress.error = error;
        progress.finished_at = Some(self.1.now());
    }

    fn lock(&self) -> MutexGuard<'_, ReplayProgress> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Sends every retained notification in `range` to `destination` once, oldest delivery
/// first, a few at a time, recording each outcome in `progress`; must run on an actix
/// thread (the HTTP client is created here, on the thread that uses it).
pub async fn replay(
    store: &Store,
    destination: &DestinationConfig,
    range: &RetainedRange,
    progress: &ReplayHandle,
    board: &StatusBoard,
) {
    let http = destination_client(destination);
    let width = REPLAY_CONCURRENCY.min(destination.max_in_flight).max(1);
    let mut retained = store.read_retained(range);
    let result: Result<(), StoreError> = async {
        loop {
            let batch = retained.next_page(width).await;
            progress.skipped(retained.skipped());
            let batch: Vec<_> = batch?.into_iter().map(|r| r.notification).collect();
            if batch.is_empty() {
                return Ok(());
            }
            let sends = batch.iter().map(|n| async {
                let (at, started) = (progress.1.now(), std::time::Instant::now());
                let outcome = attempt(&http, destination, n, &progress.1).await;
                (outcome, at, started.elapsed())
            });
            for (notification, (outcome, at, latency)) in batch.iter().zip(join_all(sends).await) {
                // A replayed delivery is an attempt like any other in the console's journal.
                let attempted = Attempted::of(&outcome, at, latency);
                board
                    .journal()
                    .attempt(&destination.id, notification, attempted);
                progress.record(notification, outcome);
            }
        }
    }
    .await;
    progress.finish(result.err().map(|err| err.to_string()));
}
