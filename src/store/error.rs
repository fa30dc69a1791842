//! Why the store could not do what was asked, and which of those a re-open can mend.

use std::error::Error;

use super::sled::{Damaged, WentBackwards};

/// `courier run`'s exit code when sled cannot open the store's files (at start, or at a
/// re-open after a write fault): restore them, or move them aside.
pub const EXIT_STORE_DAMAGED: u8 = 3;
/// `courier run`'s exit code when the store is behind its high-water marks: restore a newer
/// copy, or run with `--accept-store-rollback`.
pub const EXIT_STORE_WENT_BACKWARDS: u8 = 4;

/// Why the store could not do what was asked; always an operator matter (disk, corruption).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The storage engine failed (its own error inside, classified by [`EngineError`]).
    #[error("store: {0}")]
    Engine(#[from] EngineError),
    /// Writes could not be made durable (the disk refused a write or an fsync).
    #[error("store: flushing to disk failed: {0}")]
    Flush(String),
    /// The retained notifications' files could not be read or written.
    #[error("store: retained notifications: {0}")]
    Retained(#[from] std::io::Error),
    /// A stored record could not be read back. The reason gives the parser's position only:
    /// serde's own message can quote the stored value, which may be patient data.
    #[error("store: unreadable record under {key}: {reason}")]
    Corrupt {
        /// The key whose value failed to decode.
        key: String,
        /// What kind of decoding error, and where.
        reason: String,
    },
    /// The connection's stored state changed under a commit (two writers for one connection).
    #[error("store: the state of connection {0} changed during a commit")]
    Conflict(String),
    /// This instance no longer holds the lease of the connection it wrote (another instance
    /// took it over, or it could not renew it in time): nothing was written, and the
    /// connection stops here.
    #[error("store: connection {0} is fenced: this instance no longer holds its lease")]
    Fenced(String),
    /// The database failed or could not be reached; the text is the driver's, never a row's
    /// values.
    #[error("store: database: {0}")]
    Database(String),
    /// A write fault took the store out of service until it is re-opened (see
    /// `reopen.rs`); the text is that fault's.
    #[error("store: unavailable until it is re-opened after: {0}")]
    Unavailable(String),
    /// sled cannot open the store's files (it panicked, or reported a corruption).
    #[error(transparent)]
    Damaged(#[from] Damaged),
    /// The store's state is older than its high-water marks (see [`super::marks`]).
    #[error(transparent)]
    WentBackwards(#[from] WentBackwards),
}

impl StoreError {
    /// Whether the disk is full (or the quota used up): waiting for room is the way out.
    pub fn is_disk_full(&self) -> bool {
        const ENOSPC: i32 = 28;
        const EDQUOT: i32 = 122;
        let os_error = match self {
            StoreError::Engine(err) => match err.fault {
                EngineFault::Io { os_error } => os_error,
                _ => None,
            },
            StoreError::Retained(err) => err.raw_os_error(),
            _ => return false,
        };
        matches!(os_error, Some(ENOSPC | EDQUOT))
    }

    /// Whether this is the disk failing a write (full, or an I/O error), which leaves the open
    /// files unusable (sled keeps failing after one), as opposed to a record or a caller's
    /// problem.
    pub(crate) fn is_write_fault(&self) -> bool {
        matches!(
            self,
            StoreError::Engine(EngineError {
                fault: EngineFault::Io { .. },
                ..
            }) | StoreError::Flush(_)
                | StoreError::Retained(_)
        )
    }
}

/// What kind of failure an engine's error is, decided by the backend that raised it, so
/// callers can tell a full disk from damage without knowing the engine's own error type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineFault {
    /// The disk (or the network under it) failed a read or write; `os_error` is the OS's
    /// error number when there is one.
    Io {
        /// `errno`, e.g. 28 for a full disk.
        os_error: Option<i32>,
    },
    /// The engine found its files damaged.
    Damage,
    /// Anything else (a lock held, an unsupported operation).
    Other,
}

/// An error of the storage engine behind the store, kept as its source but with no engine
/// type in the store's interface: a second backend raises its own errors the same way.
#[derive(Debug, thiserror::Error)]
#[error("{source}")]
pub struct EngineError {
    /// What kind of failure it is.
    pub fault: EngineFault,
    /// The engine's own error.
    #[source]
    source: Box<dyn Error + Send + Sync>,
}

impl EngineError {
    /// Wraps an engine's `source` error as a failure of kind `fault`.
    pub fn new(fault: EngineFault, source: impl Error + Send + Sync + 'static) -> Self {
        Self {
            fault,
            source: Box::new(source),
        }
    }
}
