//! Why the store could not do what was asked, and which of those a re-open can mend.

use super::marks::WentBackwards;
use super::open::Damaged;

/// `courier run`'s exit code when sled cannot open the store's files (at start, or at a
/// re-open after a write fault): restore them, or move them aside.
pub const EXIT_STORE_DAMAGED: u8 = 3;
/// `courier run`'s exit code when the store is behind its high-water marks: restore a newer
/// copy, or run with `--accept-store-rollback`.
pub const EXIT_STORE_WENT_BACKWARDS: u8 = 4;

/// Why the store could not do what was asked; always an operator matter (disk, corruption).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled failed.
    #[error("store: {0}")]
    Sled(#[from] sled::Error),
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
        let io = match self {
            StoreError::Sled(sled::Error::Io(err)) | StoreError::Retained(err) => err,
            _ => return false,
        };
        matches!(io.raw_os_error(), Some(ENOSPC | EDQUOT))
    }

    /// Whether this is the disk failing a write (full, or an I/O error), which leaves the open
    /// files unusable (sled keeps failing after one), as opposed to a record or a caller's
    /// problem.
    pub(super) fn is_write_fault(&self) -> bool {
        matches!(
            self,
            StoreError::Sled(sled::Error::Io(_)) | StoreError::Flush(_) | StoreError::Retained(_)
        )
    }
}
