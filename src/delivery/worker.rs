//! Seeing one notification through: attempts per the retry schedule until the destination
//! acknowledges it (the caller then completes its container, see
//! [`crate::actors::completions`]) or the schedule runs out (the container
//! becomes a dead letter, with every attempt), unless the destination stops accepting
//! notifications meanwhile: then it is let go (the container stays pending), or it becomes the
//! probe of a failing destination.
//!
//! The rule between failing and dead letters: a notification's schedule runs only while its
//! destination is healthy. When the destination turns failing or paused, every notification
//! in flight but the probe is let go at its next attempt (or at once, when waiting for one)
//! and forgets its attempts; it starts its schedule afresh when dispatched again. One
//! notification at a time probes the destination; after a failed probe it waits
//! [`crate::retry::probe_delay`], is let go, and a connection sends the next probe (another
//! notification, in turn), so probes rotate and none is ever dead-lettered. A schedule that
//! runs out is a dead letter only when the receiver judged the notification (a lasting 4xx,
//! see [`crate::retry::refuses_content`]) or another attempt succeeded since its first
//! failure; otherwise the destination turns failing and the notification stays pending (see
//! [`super::health::Health::settle`]). So a dead letter means the destination kept accepting
//! other notifications while refusing this one, never that the destination was down.

use std::sync::Arc;

use super::gate::{DestinationGate, Probe};
use super::health::Verdict;
use super::order::key_hash;
use super::sender::{attempt, AttemptOutcome};
use crate::config::DestinationConfig;
use crate::escape::escaped;
use crate::model::notification::AttemptRecord;
use crate::model::{DeadLetter, Notification};
use crate::retry::{jitter_sample, next_delivery_delay, refuses_content};
use crate::status::journal::Attempted;
use crate::status::StatusBoard;
use crate::store::{Store, StoreError};

/// How a notification's delivery ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Final {
    /// Acknowledged with 2xx: the caller completes its container.
    Delivered,
    /// Moved to the dead letters.
    DeadLettered,
    /// Given up, but the dead letter could not be written: the container is still pending
    /// and must be dispatched again.
    StillPending,
    /// Given up, but the dead letter was refused by the connection's fence: another
    /// instance holds the connection's lease now and delivers the container again.
    Fenced,
    /// Let go because the destination is failing or paused: the container stays pending and
    /// its connection dispatches it again once the destination accepts notifications.
    LetGo,
}

/// What a delivery needs, shared by every notification of one destination on one worker.
#[derive(Clone)]
pub struct DeliveryContext {
    /// The destination's client (one pool per destination and worker thread).
    pub http: awc::Client,
    /// The destination.
    pub destination: Arc<DestinationConfig>,
    /// Where containers are completed or dead-lettered.
    pub store: Store,
    /// Where progress is shown.
    pub board: StatusBoard,
    /// The destination's health.
    pub gate: Arc<DestinationGate>,
}

/// Delivers `notification`, retrying per the destination's schedule (±20% jitter,
/// `Retry-After` honoured up to the next step), then says it was delivered (its caller
/// completes it) or dead-letters its container; or lets it go, or probes with it once, when
/// the destination fails (see the module doc).
pub async fn deliver(
    ctx: &DeliveryContext,
    notification: &Notification,
    probe: Option<Probe>,
) -> Final {
    let outcome = attempts(ctx, notification, probe).await;
    if outcome == Final::LetGo {
        let now = ctx.gate.clock().now();
        let journal = ctx.board.journal();
        journal.pending_again(&ctx.destination.id, notification, now);
    }
    outcome
}

/// The attempts of [`deliver`], until the notification is delivered, dead-lettered or let go.
async fn attempts(
    ctx: &DeliveryContext,
    notification: &Notification,
    probe: Option<Probe>,
) -> Final {
    let dest = &ctx.destination;
    let gate = &ctx.gate;
    let hash = key_hash(&notification.id);
    let mut attempts = Vec::new();
    let mut evidence = Evidence::default();
    loop {
        if !gate.may_attempt(probe.is_some()) {
            return Final::LetGo;
        }
        let at = gate.clock().now();
        let Some((status, retry_after, error)) = attempt_once(ctx, notification).await else {
            return Final::Delivered;
        };
        if status == Some(410) {
            gate.gone();
            return Final::LetGo;
        }
        let mark = gate.failed(hash, &error);
        evidence.judged |= refuses_content(status);
        evidence.mark.get_or_insert(mark);
        if !gate.may_attempt(false) {
            return probe_or_let_go(ctx, probe, retry_after).await;
        }
        attempts.push(AttemptRecord {
            at,
            status,
            error: Some(error),
        });
        let delay = next_delivery_delay(
            &dest.retry_schedule,
            attempts.len(),
            retry_after,
            jitter_sample(),
        );
        match delay.filter(|_| !gate.proven_refused(hash)) {
            // Woken early when the destination's state changes, to let go at once.
            Some(delay) => gate.wait(delay).await,
            None => {
                return ran_out(ctx, notification, probe, attempts, evidence, retry_after).await
            }
        }
    }
}

/// What a notification's failures showed about its destination: what lets its schedule end
/// in a dead letter (see [`DestinationGate::settle`]).
#[derive(Default)]
struct Evidence {
    /// The receiver judged the content (see [`refuses_content`]).
    judged: bool,
    /// The gate's success mark at the first failure.
    mark: Option<u64>,
}

/// The schedule of `notification` ran out, or it was refused again after an earlier one ran
/// out: a dead letter if the destination showed it takes others; otherwise the destination
/// turns failing and the notification stays pending.
async fn ran_out(
    ctx: &DeliveryContext,
    notification: &Notification,
    probe: Option<Probe>,
    attempts: Vec<AttemptRecord>,
    evidence: Evidence,
    retry_after: Option<std::time::Duration>,
) -> Final {
    let (gate, hash, count) = (&ctx.gate, key_hash(&notification.id), attempts.len());
    let reason = match gate.proven_refused(hash) {
        true => format!("refused again after an earlier retry schedule ran out, while others were delivered ({count} attempts this time)"),
        false => format!("retry schedule exhausted after {count} attempts"),
    };
    let mark = evidence.mark.unwrap_or_default();
    if !evidence.judged && gate.settle(hash, mark, last_error(&attempts)) == Verdict::Keep {
        return probe_or_let_go(ctx, probe, retry_after).await;
    }
    dead_letter(ctx, notification, attempts, reason).await
}

/// The destination is failing: a probe (this one, or the first to fail once the destination
/// turned failing) waits, then hands the slot on to another notification; the rest let go.
async fn probe_or_let_go(
    ctx: &DeliveryContext,
    probe: Option<Probe>,
    retry_after: Option<std::time::Duration>,
) -> Final {
    if let Some(probe) = probe.or_else(|| ctx.gate.take_probe()) {
        probe
            .failed(&ctx.destination.retry_schedule, retry_after)
            .await;
    }
    Final::LetGo
}

fn last_error(attempts: &[AttemptRecord]) -> &str {
    attempts
        .last()
        .and_then(|a| a.error.as_deref())
        .unwrap_or_default()
}

/// One attempt, recorded: `None` when it was delivered, otherwise its status, `Retry-After`
/// and error.
async fn attempt_once(
    ctx: &DeliveryContext,
    notification: &Notification,
) -> Option<(Option<u16>, Option<std::time::Duration>, String)> {
    let dest = &ctx.destination;
    let (at, started) = (ctx.gate.clock().now(), std::time::Instant::now());
    let outcome = {
        let _on_the_wire = Sending::start(&ctx.board, &dest.id);
        attempt(&ctx.http, dest, notification, ctx.gate.clock()).await
    };
    let latency = started.elapsed();
    let meters = ctx.board.meters().destination(&dest.id);
    meters.attempt(&outcome, latency);
    // Counted before the journal shows it: a page that reads the journal first and the
    // counters after never shows an attempt its counters have not counted.
    match &outcome {
        AttemptOutcome::Delivered { .. } => record_success(ctx),
        AttemptOutcome::Failed { error, .. } => record_failure(ctx, notification, error),
    }
    let attempted = Attempted::of(&outcome, at, latency);
    ctx.board
        .journal()
        .attempt(&dest.id, notification, attempted);
    match outcome {
        AttemptOutcome::Delivered { .. } => {
            ctx.gate.succeeded();
            None
        }
        AttemptOutcome::Failed {
            status,
            retry_after,
            error,
        } => Some((status, retry_after, error)),
    }
}

/// Counts a delivery; its container is completed by the caller, which holds its claim (see
/// [`crate::actors::completions`]).
fn record_success(ctx: &DeliveryContext) {
    ctx.board.destination(&ctx.destination.id, |d| {
        d.delivered += 1;
        d.last_error = None;
    });
}

/// Counts a failed attempt; the destination's state changes are logged by its gate, so a
/// failing attempt itself logs only at debug level (no line per retry).
fn record_failure(ctx: &DeliveryContext, notification: &Notification, error: &str) {
    let dest = &ctx.destination.id;
    ctx.board.destination(dest, |d| {
        d.failed_attempts += 1;
        d.last_error = Some(error.to_owned());
    });
    log::debug!(
        "dest={dest} notif={} attempt failed: {}",
        notification.id,
        escaped(&error)
    );
}

async fn dead_letter(
    ctx: &DeliveryContext,
    notification: &Notification,
    attempts: Vec<AttemptRecord>,
    reason: String,
) -> Final {
    let dest = &ctx.destination.id;
    let letter = DeadLetter {
        notification_id: notification.id.clone(),
        connection: notification.connection.clone(),
        sequence: notification.sequence,
        destination: dest.clone(),
        reason,
        attempts,
        dead_at: ctx.gate.clock().now(),
        body: serde_json::from_slice(&notification.body).unwrap_or_default(),
    };
    if let Err(err) = ctx.store.dead_letter(&letter).await {
        if matches!(err, StoreError::Fenced(_)) {
            return Final::Fenced;
        }
        log::error!(
            "dest={dest} notif={} could not be dead-lettered: {}",
            letter.notification_id,
            escaped(&err)
        );
        return Final::StillPending;
    }
    // Counted as soon as it is stored, before the (slower) log line: status and store agree.
    ctx.board.destination(dest, |d| d.dead_lettered += 1);
    let journal = ctx.board.journal();
    journal.dead_lettered(dest, notification, letter.dead_at);
    log::error!(
        "dest={dest} conn={} notif={} seq={} dead-lettered: {}",
        letter.connection,
        letter.notification_id,
        letter.sequence,
        escaped(&letter.reason)
    );
    Final::DeadLettered
}

/// Counts a request as on the wire for as long as it lives, however the attempt ends.
struct Sending<'a> {
    board: &'a StatusBoard,
    destination: &'a str,
}

impl<'a> Sending<'a> {
    fn start(board: &'a StatusBoard, destination: &'a str) -> Self {
        board.destination(destination, |d| d.sending += 1);
        Self { board, destination }
    }
}

impl Drop for Sending<'_> {
    fn drop(&mut self) {
        self.board.destination(self.destination, |d| d.sending -= 1);
    }
}
