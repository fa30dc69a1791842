//! Completing delivered containers a batch at a time, as a plain state machine: the
//! deliveries a worker sees acknowledged in one turn of its event loop are written together
//! (their retained copies in one `write`; BENCHMARKS.md: one `write` per notification was
//! ~2 µs of its CPU), then their claims are released.
//!
//! The order is what keeps a delivery from being sent twice while Courier runs: a claim is
//! released only once its container has left the store, so a connection walking its pending
//! containers (recovery, probes) never picks up one that was just delivered. A batch whose
//! write failed holds its claims and is written again with backoff. A crash before the batch
//! is written leaves the containers pending: delivered again after the restart, under the
//! same id, like any delivery acknowledged in the moment before a crash.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::model::Notification;
use crate::retry::Backoff;

/// A batch whose write failed is written again after this long at first, doubling up to
/// [`RETRY_MAX`]; its claims are held meanwhile, so none of its notifications goes out again.
/// The store re-opens itself within 5 s of the disk having room again (`store::reopen`).
pub const RETRY_MIN: Duration = Duration::from_millis(100);
/// See [`RETRY_MIN`].
pub const RETRY_MAX: Duration = Duration::from_secs(5);

/// A delivery acknowledged by its destination, waiting for its batch to be written; `C` is
/// the claim the shell releases once it is.
#[derive(Debug)]
pub struct Acknowledged<C> {
    /// What was delivered.
    pub notification: Notification,
    /// When it was acknowledged.
    pub at: DateTime<Utc>,
    /// Its container's claim.
    pub claim: C,
}

/// Something that happened to the batches.
#[derive(Debug)]
pub enum Event<C> {
    /// A delivery was acknowledged just now.
    Acknowledged(Acknowledged<C>),
    /// The turn of the event loop in which deliveries were acknowledged is over.
    TurnOver,
    /// The batch was written: its containers left the store.
    Written(Vec<Acknowledged<C>>),
    /// Writing the batch failed with `error`.
    NotWritten(Vec<Acknowledged<C>>, String),
    /// The retry's delay ran out.
    RetryDue,
    /// The worker stops: whatever this turn acknowledged is written now, not left behind.
    Stopping,
}

/// Something for the shell to do.
#[derive(Debug)]
pub enum Action<C> {
    /// Feed [`Event::TurnOver`] once the deliveries ready now have run.
    AwaitTurn,
    /// Write this batch, then feed [`Event::Written`] or [`Event::NotWritten`].
    Write(Vec<Acknowledged<C>>),
    /// The batch left the store: release its claims (delivered).
    Release(Vec<Acknowledged<C>>),
    /// Feed [`Event::RetryDue`] after this long.
    RetryIn(Duration),
}

/// The batches of one destination on one worker.
#[derive(Debug)]
pub struct Completions<C> {
    /// The destination, for log lines.
    destination: String,
    /// Acknowledged this turn.
    batch: Vec<Acknowledged<C>>,
    /// Whose write failed, held with their claims until a retry writes them.
    unwritten: Vec<Acknowledged<C>>,
    /// Spaces out the retries of `unwritten`; its failure count says whether one is due.
    backoff: Backoff,
    /// Set while a retry is scheduled, so there is one at a time.
    retry_scheduled: bool,
}

impl<C> Completions<C> {
    /// The batches of `destination`, retried with `backoff` after a failed write.
    pub fn new(destination: &str, backoff: Backoff) -> Self {
        Self {
            destination: destination.to_owned(),
            batch: Vec::new(),
            unwritten: Vec::new(),
            backoff,
            retry_scheduled: false,
        }
    }

    /// Takes `event`, answers what to do.
    pub fn on(&mut self, event: Event<C>) -> Vec<Action<C>> {
        match event {
            Event::Acknowledged(acknowledged) => {
                self.batch.push(acknowledged);
                match self.batch.len() {
                    1 => vec![Action::AwaitTurn],
                    _ => vec![],
                }
            }
            Event::TurnOver | Event::Stopping => write(std::mem::take(&mut self.batch)),
            Event::Written(batch) => self.written(batch),
            Event::NotWritten(batch, error) => self.hold(batch, &error),
            Event::RetryDue => {
                self.retry_scheduled = false;
                write(std::mem::take(&mut self.unwritten))
            }
        }
    }

    fn written(&mut self, batch: Vec<Acknowledged<C>>) -> Vec<Action<C>> {
        let failures = self.backoff.failures();
        if failures > 0 && self.unwritten.is_empty() {
            self.backoff.reset();
            log::warn!(
                "dest={} deliveries are marked delivered again, after {failures} failed writes",
                self.destination
            );
        }
        vec![Action::Release(batch)]
    }

    /// Holds `batch` and its claims (so none of it is sent again) until a retry writes it.
    fn hold(&mut self, batch: Vec<Acknowledged<C>>, err: &str) -> Vec<Action<C>> {
        let dest = &self.destination;
        let delay = self.backoff.fail(None);
        let Some(first) = batch.first() else {
            return vec![];
        };
        if self.backoff.failures() == 1 {
            // Once per failing period, not per batch: the store's own fault is logged as an
            // ERROR where it happens.
            log::warn!(
                "dest={dest} {} delivered notifications (first notif={}) could not be marked delivered: {err}; held, not sent again, and written again with backoff",
                batch.len(),
                first.notification.id
            );
        } else {
            log::debug!("dest={dest} marking delivered failed again; next try in {delay:?}");
        }
        self.unwritten.extend(batch);
        match std::mem::replace(&mut self.retry_scheduled, true) {
            true => vec![],
            false => vec![Action::RetryIn(delay)],
        }
    }
}

/// Writes `batch`, if there is one.
fn write<C>(batch: Vec<Acknowledged<C>>) -> Vec<Action<C>> {
    match batch.is_empty() {
        true => vec![],
        false => vec![Action::Write(batch)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// Acknowledged delivery `n`, its claim standing for itself.
    fn acknowledged(n: u64) -> Event<u64> {
        let container = crate::model::Container {
            connection: "c".into(),
            sequence: n,
            key: format!("k{n}"),
            version: "1".into(),
            notification_id: format!("msg_{n}"),
            event_type: "t".into(),
            detected_at: Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
            change: serde_json::json!({}),
            fhir: None,
            changed_elements: None,
            backfill: false,
        };
        Event::Acknowledged(Acknowledged {
            notification: Notification::build(&container, &serde_json::Map::new(), &[]),
            at: Utc.timestamp_opt(1_700_000_001, 0).unwrap(),
            claim: n,
        })
    }

    /// Completions whose retry delays double from 100 ms without jitter.
    fn completions() -> Completions<u64> {
        Completions::new("app", Backoff::with_jitter(RETRY_MIN, RETRY_MAX, || 0.0))
    }

    fn claims(batch: &[Acknowledged<u64>]) -> Vec<u64> {
        batch.iter().map(|a| a.claim).collect()
    }

    /// The one batch `actions` write.
    fn written(actions: Vec<Action<u64>>) -> Vec<Acknowledged<u64>> {
        match <[Action<u64>; 1]>::try_from(actions) {
            Ok([Action::Write(batch)]) => batch,
            other => panic!("expected one write, got {other:?}"),
        }
    }

    #[test]
    fn a_turns_deliveries_are_written_together_once_the_turn_is_over_then_released() {
        let mut completions = completions();
        assert!(matches!(
            completions.on(acknowledged(1))[..],
            [Action::AwaitTurn]
        ));
        assert!(
            completions.on(acknowledged(2)).is_empty(),
            "one write per turn"
        );
        assert!(completions.on(acknowledged(3)).is_empty());
        let batch = written(completions.on(Event::TurnOver));
        assert_eq!(claims(&batch), [1, 2, 3], "in acknowledgement order");
        let released = completions.on(Event::Written(batch));
        assert!(matches!(&released[..], [Action::Release(b)] if claims(b) == [1, 2, 3]));
        assert!(completions.on(Event::TurnOver).is_empty(), "nothing left");
        assert!(matches!(
            completions.on(acknowledged(4))[..],
            [Action::AwaitTurn]
        ));
    }

    #[test]
    fn a_batch_that_cannot_be_written_keeps_its_claims_until_a_retry_writes_it() {
        let mut completions = completions();
        completions.on(acknowledged(1));
        let first = written(completions.on(Event::TurnOver));
        let retry = completions.on(Event::NotWritten(first, "disk full".into()));
        assert!(matches!(retry[..], [Action::RetryIn(d)] if d == RETRY_MIN));
        // Another turn's batch fails too: held as well, with the one retry already due.
        completions.on(acknowledged(2));
        let second = written(completions.on(Event::TurnOver));
        let held = completions.on(Event::NotWritten(second, "disk full".into()));
        assert!(held.is_empty(), "no claim released, one retry at a time");

        let again = written(completions.on(Event::RetryDue));
        assert_eq!(claims(&again), [1, 2], "both held batches, written again");
        let retry = completions.on(Event::NotWritten(again, "disk full".into()));
        assert!(
            matches!(retry[..], [Action::RetryIn(d)] if d == RETRY_MIN * 4),
            "backing off: {retry:?}"
        );
        let again = written(completions.on(Event::RetryDue));
        let released = completions.on(Event::Written(again));
        assert!(matches!(&released[..], [Action::Release(b)] if claims(b) == [1, 2]));
        completions.on(acknowledged(3));
        let third = written(completions.on(Event::TurnOver));
        let retry = completions.on(Event::NotWritten(third, "disk full".into()));
        assert!(
            matches!(retry[..], [Action::RetryIn(d)] if d == RETRY_MIN),
            "the backoff starts again after a success"
        );
    }

    #[test]
    fn a_batch_left_when_its_worker_stops_is_written_at_the_stop() {
        let mut completions = completions();
        completions.on(acknowledged(1));
        completions.on(acknowledged(2));
        let batch = written(completions.on(Event::Stopping));
        assert_eq!(claims(&batch), [1, 2]);
        assert!(completions.on(Event::TurnOver).is_empty(), "written once");
    }
}
