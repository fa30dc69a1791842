//! Replay jobs, for the admin API: start one (it runs inside the process asked: a sled store
//! admits one process, and on a PostgreSQL store the retained notifications are shared, so
//! any instance of a cluster replays any connection's), and read its progress while it runs
//! and after it ended (from that same instance: jobs are not shared).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Operations;
use crate::actors::supervisor::CurrentConfig;
use crate::config::{Config, DestinationConfig};
use crate::delivery::replay::{replay, ReplayHandle, ReplayProgress, ReplayState};
use crate::escape::escaped;
use crate::store::RetainedRange;

/// Finished jobs remembered, at most; the oldest are forgotten first.
const JOBS_KEPT: usize = 100;

/// What to replay: `POST /replay`'s body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayRequest {
    /// The destination to send to (and whose deliveries are replayed).
    pub destination: String,
    /// Delivered at or after this time.
    pub since: DateTime<Utc>,
    /// Delivered before this time; up to now when absent.
    pub until: Option<DateTime<Utc>>,
    /// Only this connection's notifications, when set.
    pub connection: Option<String>,
}

/// A started replay: its job id and how many notifications it will send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayStarted {
    /// Ask `GET /replay/{job}` for its progress.
    pub job: u64,
    /// Notifications in the range, all to be sent once.
    pub total: u64,
}

/// Why a replay cannot start; each is the operator's request to correct.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// No such destination in the running configuration.
    #[error("no destination {0} is configured")]
    UnknownDestination(String),
    /// No such connection in the running configuration.
    #[error("no connection {0} is configured")]
    UnknownConnection(String),
    /// `until` is not after `since`.
    #[error("until must be after since")]
    EmptyRange,
    /// The destination keeps no delivered notifications.
    #[error("destination {0} keeps no delivered notifications (retain_hours = 0)")]
    NothingRetained(String),
    /// The destination is paused (by an operator or a `410 Gone`): it is sent nothing, replays
    /// included.
    #[error("destination {0} is paused; resume it first")]
    Paused(String),
    /// The actor tree is gone (shutting down).
    #[error("Courier is shutting down")]
    ShuttingDown,
}

/// The replay jobs of this process; shared by the `App`.
#[derive(Debug, Default)]
pub(super) struct ReplayJobs {
    next: AtomicU64,
    jobs: Mutex<BTreeMap<u64, ReplayHandle>>,
}

impl ReplayJobs {
    fn add(&self, handle: ReplayHandle) -> u64 {
        let job = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let mut jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        jobs.insert(job, handle);
        while jobs.len() > JOBS_KEPT {
            jobs.pop_first();
        }
        job
    }

    fn get(&self, job: u64) -> Option<ReplayHandle> {
        let jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        jobs.get(&job).cloned()
    }
}

impl Operations {
    /// Starts replaying what `request` selects: each retained notification is sent once
    /// more, same id and body, through the destination's sender, never through the pipeline.
    pub async fn start_replay(&self, request: ReplayRequest) -> Result<ReplayStarted, ReplayError> {
        let config = self
            .supervisor
            .send(CurrentConfig)
            .await
            .map_err(|_| ReplayError::ShuttingDown)?;
        let (destination, range) = checked(&config, &request, self.gates.clock().now())?;
        if self
            .gates
            .get(&destination.id)
            .is_some_and(|g| g.is_paused())
        {
            return Err(ReplayError::Paused(destination.id.clone()));
        }
        // A range that cannot be read counts as empty here; the replay reports the error.
        let total = self.store.retained_total(&range).await.unwrap_or_default();
        let handle = ReplayHandle::new(&destination.id, total, self.gates.clock().clone());
        let job = self.replays.add(handle.clone());
        log::info!(
            "replay {job} to dest={} started by an operator: {total} notifications delivered from {} to {}{}",
            destination.id,
            range.since.to_rfc3339(),
            range.until.map_or("now".into(), |t| t.to_rfc3339()),
            range.connection.as_ref().map_or(String::new(), |c| format!(" by conn={}", escaped(c)))
        );
        let (store, board) = (self.store.clone(), self.gates.board().clone());
        self.arbiter.spawn_fn(move || {
            actix_rt::spawn(async move {
                replay(&store, &destination, &range, &handle, &board).await;
                log_end(job, &handle.progress());
            });
        });
        Ok(ReplayStarted { job, total })
    }

    /// The progress of replay `job`, while it runs and after it ended.
    pub fn replay_progress(&self, job: u64) -> Option<ReplayProgress> {
        self.replays.get(job).map(|handle| handle.progress())
    }
}

/// The destination and the range `request` asks for, checked against the running
/// configuration; the range starts no earlier than what the destination still keeps at
/// `now` (an expired notification the sweep has not removed yet is not replayed either).
fn checked(
    config: &Config,
    request: &ReplayRequest,
    now: DateTime<Utc>,
) -> Result<(DestinationConfig, RetainedRange), ReplayError> {
    let destination = config
        .destinations
        .get(&request.destination)
        .cloned()
        .ok_or_else(|| ReplayError::UnknownDestination(request.destination.clone()))?;
    if let Some(connection) = &request.connection {
        if !config.connections.contains_key(connection) {
            return Err(ReplayError::UnknownConnection(connection.clone()));
        }
    }
    if request.until.is_some_and(|until| until <= request.since) {
        return Err(ReplayError::EmptyRange);
    }
    if destination.retain.is_zero() {
        return Err(ReplayError::NothingRetained(destination.id));
    }
    let kept_from = now - chrono::Duration::from_std(destination.retain).unwrap_or_default();
    let range = RetainedRange {
        destination: request.destination.clone(),
        since: request.since.max(kept_from),
        until: request.until,
        connection: request.connection.clone(),
    };
    Ok((destination, range))
}

fn log_end(job: u64, progress: &ReplayProgress) {
    let (dest, sent, failed, total, skipped) = (
        &progress.destination,
        progress.sent,
        progress.failed,
        progress.total,
        progress.skipped,
    );
    match (&progress.state, &progress.error) {
        (ReplayState::Aborted, Some(error)) => {
            log::warn!("replay {job} to dest={dest} stopped after {sent} sent, {failed} failed of {total}, {skipped} damaged stretches skipped: {}", escaped(error));
        }
        _ if skipped > 0 => log::warn!(
            "replay {job} to dest={dest} finished: {sent} sent, {failed} failed of {total}; {skipped} damaged stretches of retained records skipped"
        ),
        _ => log::info!(
            "replay {job} to dest={dest} finished: {sent} sent, {failed} failed of {total}"
        ),
    }
}

/// The replay jobs, shared by every clone of [`Operations`].
pub(super) type Jobs = Arc<ReplayJobs>;
