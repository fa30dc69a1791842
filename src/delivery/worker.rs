//! Seeing one notification through: attempts per the retry schedule until the destination
//! acknowledges it (the container is then forgotten) or the schedule runs out (the container
//! becomes a dead letter, with every attempt).

use std::sync::Arc;

use chrono::Utc;

use super::retry::{jitter_sample, next_delivery_delay};
use super::sender::{attempt, AttemptOutcome};
use crate::config::DestinationConfig;
use crate::model::notification::AttemptRecord;
use crate::model::{DeadLetter, Notification};
use crate::status::StatusBoard;
use crate::store::{Retain, Store};

/// How a notification's delivery ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Final {
    /// Acknowledged with 2xx.
    Delivered,
    /// Moved to the dead letters.
    DeadLettered,
    /// Given up, but the dead letter could not be written: the container is still pending
    /// and must be dispatched again.
    StillPending,
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
}

/// Delivers `notification`, retrying per the destination's schedule (±20% jitter,
/// `Retry-After` honoured up to the next step), then completes or dead-letters its container.
pub async fn deliver(ctx: &DeliveryContext, notification: &Notification) -> Final {
    let dest = &ctx.destination;
    let meters = ctx.board.meters().destination(&dest.id);
    let mut attempts = Vec::new();
    loop {
        let at = Utc::now();
        let started = std::time::Instant::now();
        let outcome = {
            let _on_the_wire = Sending::start(&ctx.board, &dest.id);
            attempt(&ctx.http, dest, notification).await
        };
        meters.attempt(&outcome, started.elapsed());
        let (status, retry_after, error) = match outcome {
            AttemptOutcome::Delivered { .. } => {
                record_success(ctx, notification);
                return Final::Delivered;
            }
            AttemptOutcome::Failed {
                status,
                retry_after,
                error,
            } => (status, retry_after, error),
        };
        record_failure(ctx, notification, &error);
        attempts.push(AttemptRecord {
            at,
            status,
            error: Some(error),
        });
        match next_delivery_delay(
            &dest.retry_schedule,
            attempts.len(),
            retry_after,
            jitter_sample(),
        ) {
            Some(delay) => actix_rt::time::sleep(delay).await,
            None => return dead_letter(ctx, notification, attempts),
        }
    }
}

fn record_success(ctx: &DeliveryContext, notification: &Notification) {
    let dest = &ctx.destination.id;
    // Kept for replay in the same transaction that forgets the container.
    let retain = (!ctx.destination.retain.is_zero()).then(|| Retain {
        destination: dest,
        delivered_at: Utc::now(),
    });
    if let Err(err) = ctx.store.complete(notification, retain) {
        // The receiver has it; the worst outcome is one more same-id delivery after a restart.
        log::warn!(
            "dest={dest} notif={} could not be marked delivered: {err}",
            notification.id
        );
    }
    let recovered = ctx.board.destination(dest, |d| {
        d.delivered += 1;
        d.last_error.take().is_some()
    });
    if recovered {
        log::info!("dest={dest} delivering again");
    }
}

fn record_failure(ctx: &DeliveryContext, notification: &Notification, error: &str) {
    let dest = &ctx.destination.id;
    let first = ctx.board.destination(dest, |d| {
        d.failed_attempts += 1;
        d.last_error.replace(error.to_owned()).is_none()
    });
    if first {
        log::warn!(
            "dest={dest} notif={} delivery failing: {error}; retrying per schedule",
            notification.id
        );
    } else {
        log::debug!(
            "dest={dest} notif={} attempt failed: {error}",
            notification.id
        );
    }
}

fn dead_letter(
    ctx: &DeliveryContext,
    notification: &Notification,
    attempts: Vec<AttemptRecord>,
) -> Final {
    let dest = &ctx.destination.id;
    let letter = DeadLetter {
        notification_id: notification.id.clone(),
        connection: notification.connection.clone(),
        sequence: notification.sequence,
        destination: dest.clone(),
        reason: format!("retry schedule exhausted after {} attempts", attempts.len()),
        attempts,
        dead_at: Utc::now(),
        body: serde_json::from_slice(&notification.body).unwrap_or_default(),
    };
    if let Err(err) = ctx.store.dead_letter(&letter) {
        log::error!(
            "dest={dest} notif={} could not be dead-lettered: {err}",
            letter.notification_id
        );
        return Final::StillPending;
    }
    log::error!(
        "dest={dest} conn={} notif={} seq={} dead-lettered: {}",
        letter.connection,
        letter.notification_id,
        letter.sequence,
        letter.reason
    );
    ctx.board.destination(dest, |d| d.dead_lettered += 1);
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
