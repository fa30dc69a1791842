//! Reads and removals that must only concern the files open now. After a write fault the
//! store re-opens its files (see `reopen.rs`), and what was read before may not be what is
//! stored after: a lazy read must stop with the old files, and a removal by key must check
//! that the key still holds what the caller read.

use std::borrow::Cow;
use std::sync::{Arc, Weak};

use serde::Deserialize;

use super::engine::Engine;
use super::{Shared, StoreError};

/// A lazy read of one opening of the files that ends (with [`StoreError::Unavailable`]) as
/// soon as those files are taken out of service, so a long walk of the store neither reads
/// on from memory that may be ahead of the disk nor keeps the files (and sled's lock) from
/// being re-opened.
pub(super) struct Current<I> {
    shared: Arc<Shared>,
    /// The files `inner` reads; weak, so only `inner` keeps them open.
    engine: Weak<Engine>,
    inner: Option<I>,
}

impl<I> Current<I> {
    pub(super) fn new(shared: Arc<Shared>, engine: &Arc<Engine>, inner: I) -> Self {
        Self {
            shared,
            engine: Arc::downgrade(engine),
            inner: Some(inner),
        }
    }

    fn still_open(&self) -> bool {
        self.shared
            .read_engine()
            .as_ref()
            .is_some_and(|engine| std::ptr::eq(Arc::as_ptr(engine), self.engine.as_ptr()))
    }
}

impl<T, I: Iterator<Item = Result<T, StoreError>>> Iterator for Current<I> {
    type Item = Result<T, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.inner.as_ref()?;
        if self.still_open() {
            return self.inner.as_mut()?.next();
        }
        self.inner = None;
        Some(Err(StoreError::Unavailable(
            "the files this read began on were taken out of service".into(),
        )))
    }
}

/// Whether a stored container's bytes are those of notification `id`. Only its id is read.
pub(super) fn holds(container: &[u8], id: &str) -> bool {
    #[derive(Deserialize)]
    struct Id<'a> {
        #[serde(borrow)]
        notification_id: Cow<'a, str>,
    }
    serde_json::from_slice::<Id<'_>>(container).is_ok_and(|stored| stored.notification_id == id)
}

/// Removes the container under `key` if it is still notification `id`'s; answers whether it
/// was. Used once the store was re-opened, when the key may hold another change since.
pub(super) fn remove_if_holds(
    tree: &sled::Tree,
    key: &[u8],
    id: &str,
) -> Result<bool, sled::Error> {
    let Some(stored) = tree.get(key)? else {
        return Ok(false);
    };
    if !holds(&stored, id) {
        return Ok(false);
    }
    Ok(tree
        .compare_and_swap(key, Some(stored), None::<&[u8]>)?
        .is_ok())
}
