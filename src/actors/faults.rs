//! Panics on demand at the start of a connection's polls, for the crate's own tests only (this
//! module is compiled with `cfg(test)`): how the unit tests prove that a panic restarts one
//! connection alone. The product has no hook; EHR faults come from the simulated EHR.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Says, at the start of each poll, whether this poll panics.
type Trigger = Arc<dyn Fn() -> bool + Send + Sync>;

/// The armed triggers by connection id. Global because a connection's polls run on worker
/// threads; tests that arm one use connection ids no other unit test starts.
static ARMED: Mutex<BTreeMap<String, Trigger>> = Mutex::new(BTreeMap::new());

/// Connection `id`'s polls panic whenever `trigger` says so, until the guard is dropped.
#[must_use = "dropping the guard disarms the trigger"]
pub(crate) fn panic_polls_of(
    id: &str,
    trigger: impl Fn() -> bool + Send + Sync + 'static,
) -> Armed {
    lock().insert(id.to_owned(), Arc::new(trigger));
    Armed(id.to_owned())
}

/// Called by the connection actor as a poll starts (inside its panic containment).
pub(crate) fn before_poll(id: &str) {
    let trigger = lock().get(id).cloned();
    if trigger.is_some_and(|fires| fires()) {
        panic!("injected fault in connection {id}");
    }
}

/// Disarms its connection's trigger when dropped, so a failed test leaves nothing armed.
pub(crate) struct Armed(String);

impl Drop for Armed {
    fn drop(&mut self) {
        lock().remove(&self.0);
    }
}

fn lock() -> std::sync::MutexGuard<'static, BTreeMap<String, Trigger>> {
    // A test that panicked while holding it poisons nothing worth refusing.
    ARMED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
