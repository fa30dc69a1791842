//! Removals that must only concern what the caller read. After a write fault the store
//! re-opens its files (see `reopen.rs`), and what was read before may not be what is stored
//! after: a removal by key checks that the key still holds what the caller read.

use std::borrow::Cow;

use serde::Deserialize;

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
