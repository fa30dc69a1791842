//! What becomes of a container once its notification went out: forgotten when delivered (with
//! a copy retained for replay), moved to the dead letters when its schedule ran out.

use sled::Transactional;

use super::retention::{Delivered, Retain};
use super::{current, encode, keys, never_aborts, segments, Store, StoreError};
use crate::model::DeadLetter;

impl Store {
    /// Forgets delivered containers and, with `retain`, first keeps the exact notifications
    /// that were delivered, for replay: `retain_delivered`, then `forget_delivered`.
    pub fn complete(
        &self,
        delivered: &[Delivered<'_>],
        retain: Option<Retain<'_>>,
    ) -> Result<(), StoreError> {
        if let Some(retain) = retain {
            self.retain_delivered(delivered, retain)?;
        }
        self.forget_delivered(delivered)
    }

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
                true => {
                    current::remove_if_holds(&engine.containers, &key, &notification.id).map(drop)
                }
                false => engine.containers.remove(key).map(drop),
            };
            if let Err(err) = removed {
                first_error.get_or_insert(err);
            }
        }
        let forgotten = first_error.map_or(Ok(()), |err| Err(err.into()));
        self.observe(&engine, forgotten)
    }

    /// Moves a container whose retry schedule ran out to the dead letters, in one transaction
    /// (nothing, when its key holds another change since a re-open of the store).
    /// The container itself is kept beside its dead letter, so a retry restores it exactly,
    /// whatever format the body was rendered in.
    pub fn dead_letter(&self, letter: &DeadLetter) -> Result<(), StoreError> {
        let key = keys::container(&letter.connection, letter.sequence);
        let value = encode(letter);
        let engine = self.engine()?;
        let moved = (
            &engine.containers,
            &engine.dead_letters,
            &engine.dead_containers,
        )
            .transaction(|(pending, dead, kept)| {
                if let Some(container) = pending.remove(key.as_slice())? {
                    if !current::holds(&container, &letter.notification_id) {
                        // Read again after a re-open: that change is not this one's.
                        pending.insert(key.as_slice(), container)?;
                        return Ok(());
                    }
                    kept.insert(key.as_slice(), container)?;
                }
                dead.insert(key.as_slice(), value.as_slice())?;
                Ok(())
            })
            .map_err(never_aborts);
        self.observe(&engine, moved)
    }
}
