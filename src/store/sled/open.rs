//! Opening a store's sled database so that a damaged file is an error naming the store and
//! the way out, not a panic inside sled.
//!
//! sled 0.34 panics inside `Config::open` on some corruptions (300 flipped bytes gave
//! `tried to serialize Uninitialized`, exit 101, naming neither the store nor what to do), and
//! returns `Corruption` on others. Both become [`StoreError::Damaged`]. The panic is caught
//! with `catch_unwind`; the panic hook stays the process's own, only told to keep quiet for
//! a panic on the thread that is opening a store, since the error says it better.
//!
//! Then the store's state is checked against its high-water marks ([`super::marks`]).

use std::any::Any;
use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Once;

use super::engine::{BACKGROUND_FLUSH_MS, CACHE_BYTES, CONNECTIONS_TREE};
use super::marks::{self, MarksFile, Rollback};
use crate::store::{EngineFault, StoreError};

thread_local! {
    /// True while this thread runs sled's open: a panic there is reported as an error.
    static OPENING: Cell<bool> = const { Cell::new(false) };
}

/// The longest part of a panic message an error repeats: sled's are one short line.
const REASON_CHARS: usize = 200;

/// sled cannot open the store's files: the operator restores them or starts afresh.
#[derive(Debug, thiserror::Error)]
#[error(
    "store {} is damaged: {reason}. Courier will not start on it. Restore the directory from \
     a backup, or move it aside to start with an empty store, which loses every pending \
     notification, dead letter and retained notification in it and makes each connection \
     poll again from its initial cursor, numbering from sequence 1 again",
    path.display()
)]
pub struct Damaged {
    /// The store's directory.
    pub path: PathBuf,
    /// What sled said (its panic message, or its error), at most [`REASON_CHARS`] long.
    pub reason: String,
}

/// Opens sled's database in `path` and checks what it recovered against the store's marks,
/// which it returns to be kept from now on.
pub(super) fn checked(
    path: &Path,
    rollback: Rollback,
) -> Result<(sled::Db, MarksFile), StoreError> {
    let (db, stored) = contained(path, || {
        let db = sled::Config::new()
            .path(path)
            .flush_every_ms(Some(BACKGROUND_FLUSH_MS))
            .cache_capacity(CACHE_BYTES)
            .open()?;
        let stored = marks::stored(&db.open_tree(CONNECTIONS_TREE)?)?;
        Ok((db, stored))
    })?;
    let marks = marks::check(path, stored, rollback)?;
    Ok((db, marks))
}

/// Runs `open` (sled's open, and the first reads of what it recovered), turning a panic or a
/// corruption sled reports into [`StoreError::Damaged`] naming `path`.
pub(super) fn contained<T>(
    path: &Path,
    open: impl FnOnce() -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    quiet_panics_while_opening();
    OPENING.with(|opening| opening.set(true));
    let outcome = panic::catch_unwind(AssertUnwindSafe(open));
    OPENING.with(|opening| opening.set(false));
    match outcome {
        Ok(Err(StoreError::Engine(err))) if err.fault == EngineFault::Damage => {
            Err(damaged(path, err.to_string()))
        }
        Ok(result) => result,
        Err(panic) => Err(damaged(
            path,
            format!("sled panicked: {}", message(&*panic)),
        )),
    }
}

fn damaged(path: &Path, reason: String) -> StoreError {
    StoreError::Damaged(Damaged {
        path: path.to_owned(),
        reason: reason.chars().take(REASON_CHARS).collect(),
    })
}

/// The text of a panic's payload.
fn message(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with a non-text payload".to_owned())
}

/// Wraps the process's panic hook, once: a panic on a thread that is opening a store is not
/// printed (it becomes an error), every other panic goes to the hook as before, so code
/// that relies on the hook's output (a contained actor panic) sees no change.
fn quiet_panics_while_opening() {
    static WRAPPED: Once = Once::new();
    WRAPPED.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !OPENING.with(Cell::get) {
                previous(info);
            }
        }));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_while_opening_is_an_error_naming_the_store() {
        let err = contained::<()>(Path::new("/var/lib/courier"), || {
            panic!("tried to serialize Uninitialized")
        })
        .unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, StoreError::Damaged(_)), "{err:?}");
        assert!(text.contains("/var/lib/courier"), "{text}");
        assert!(text.contains("tried to serialize Uninitialized"), "{text}");
        assert!(
            !OPENING.with(Cell::get),
            "the flag is cleared after a panic"
        );
    }

    #[test]
    fn a_corruption_sled_reports_is_damage_and_a_locked_store_is_not() {
        let corrupt = contained::<()>(Path::new("/s"), || {
            Err(sled::Error::ReportableBug("bad page".into()).into())
        });
        assert!(matches!(corrupt, Err(StoreError::Damaged(_))));
        let locked = contained::<()>(Path::new("/s"), || {
            Err(sled::Error::Io(std::io::ErrorKind::WouldBlock.into()).into())
        });
        assert!(matches!(locked, Err(StoreError::Engine(_))), "{locked:?}");
    }
}
