//! What becomes of a container once its notification went out: forgotten when delivered (with
//! a copy retained for replay), moved to the dead letters when its schedule ran out.

use sled::Transactional;

use super::{current, encode, keys, never_aborts, ready, segments, SledStore};
use crate::model::DeadLetter;
use crate::store::traits::{CompletionStore, HealthStore, StoreFuture};
use crate::store::{Delivered, Retain, StoreError};

impl CompletionStore for SledStore {
    /// Retains with `retain_delivered`, then forgets with `forget_delivered`.
    fn complete<'a>(
        &'a self,
        delivered: &'a [Delivered<'a>],
        retain: Option<Retain<'a>>,
    ) -> StoreFuture<'a, ()> {
        let retained = retain.map_or(Ok(()), |retain| self.retain_delivered(delivered, retain));
        ready(retained.and_then(|()| self.forget_delivered(delivered)))
    }

    fn dead_letter<'a>(&'a self, letter: &'a DeadLetter) -> StoreFuture<'a, ()> {
        ready(self.move_to_dead_letters(letter))
    }
}

impl SledStore {
    /// Keeps the exact notifications that were delivered, for replay: all of them in one
    /// write, which is why deliveries are completed in batches (see
    /// [`crate::actors::completions`]). Called before their containers are forgotten: a crash
    /// between the two leaves containers pending (delivered again, same id) and their retained
    /// copies, which a replay sends once more under the same id. Synced with the next flush.
    fn retain_delivered(
        &self,
        delivered: &[Delivered<'_>],
        retain: Retain<'_>,
    ) -> Result<(), StoreError> {
        let engine = self.engine()?;
        let span = segments::span_for(retain.keep);
        let appended = engine
            .retained
            .append(retain.destination, span, delivered)
            .map_err(StoreError::from);
        self.observe(&engine, appended)
    }

    /// Forgets delivered containers. Not flushed on its own: after a crash, an unflushed
    /// removal only means one more (same-id) delivery. (Not a sled transaction: one per
    /// delivered notification, beside the pages' own, deadlocked sled 0.34 under load.)
    fn forget_delivered(&self, delivered: &[Delivered<'_>]) -> Result<(), StoreError> {
        let engine = self.engine()?;
        // After a re-open the key may hold another change than the one delivered (a page
        // read again): removed only if it is still the delivered one. Before, the plain
        // removal keeps the hot path to one write.
        let check = self.reopens() > 0;
        // Every removal is tried: one that fails leaves only its own container pending.
        let mut first_error = None;
        for delivered in delivered {
            let notification = delivered.notification;
            let key = keys::container(&notification.connection, notification.sequence);
            let removed = match check {
                true => current::remove_if_holds(&engine.containers, &key, &notification.id),
                false => engine.containers.remove(key).map(|old| old.is_some()),
            };
            match removed {
                Ok(true) => engine
                    .backlogs
                    .removed(&notification.connection, notification.sequence),
                Ok(false) => {}
                Err(err) => {
                    first_error.get_or_insert(err);
                }
            }
        }
        let forgotten = first_error.map_or(Ok(()), |err| Err(err.into()));
        self.observe(&engine, forgotten)
    }

    /// Moves a container whose retry schedule ran out to the dead letters, in one transaction
    /// (nothing, when its key holds another change since a re-open of the store).
    /// The container itself is kept beside its dead letter, so a retry restores it exactly,
    /// whatever format the body was rendered in.
    fn move_to_dead_letters(&self, letter: &DeadLetter) -> Result<(), StoreError> {
        let key = keys::container(&letter.connection, letter.sequence);
        let value = encode(letter);
        let engine = self.engine()?;
        let moved = (
            &engine.containers,
            &engine.dead_letters,
            &engine.dead_containers,
        )
            .transaction(|(pending, dead, kept)| {
                let mut left_pending = false;
                if let Some(container) = pending.remove(key.as_slice())? {
                    if !current::holds(&container, &letter.notification_id) {
                        // Read again after a re-open: that change is not this one's.
                        pending.insert(key.as_slice(), container)?;
                        return Ok(false);
                    }
                    kept.insert(key.as_slice(), container)?;
                    left_pending = true;
                }
                dead.insert(key.as_slice(), value.as_slice())?;
                Ok(left_pending)
            })
            .map_err(never_aborts);
        if self.observe(&engine, moved)? {
            engine.backlogs.removed(&letter.connection, letter.sequence);
        }
        Ok(())
    }
}
