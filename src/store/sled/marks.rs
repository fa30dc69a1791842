//! High-water marks: per connection, the next sequence and the cursor the store had on disk,
//! kept in `<store>/marks.json` beside `retained/`, outside the sled file, so a start can tell
//! a store that went backwards (half the file overwritten, a truncated file, an old copy put
//! back) from a healthy one, instead of polling again from an old cursor and forgetting what
//! was pending without a word.
//!
//! Invariant: a mark never exceeds what sled has durably. A commit's state is recorded only
//! after its transaction ([`Committed::record`]); the flusher takes those records *before* a
//! flush starts and merges them into the marks only after that flush succeeded
//! ([`MarksFile::flushed`]). Marks lower than the truth only weaken the check; higher ones
//! would refuse a healthy store.
//!
//! The file is replaced by writing a temporary file and renaming it, at most every
//! [`WRITE_EVERY`] (and that long after the last change at the latest) and at the store's
//! close, never fsynced: after a power loss it can only be older (lower) than sled, which the
//! check accepts.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::decode;
use crate::model::CursorValue;
use crate::store::{ConnectionState, StoreError};

/// The marks file's name inside the store's directory.
pub const MARKS_FILE: &str = "marks.json";

/// How often, at most, the marks file is rewritten while pages commit. A rename per group
/// commit would be one more metadata write per page; at this interval the marks lag the
/// store by a fraction of a second, which only means a rollback of that last fraction goes
/// unnoticed.
const WRITE_EVERY: Duration = Duration::from_millis(200);

/// What the store durably had for one connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mark {
    /// The sequence number its next container gets.
    pub next_sequence: u64,
    /// Where its next poll reads from.
    pub cursor: CursorValue,
}

impl Mark {
    fn of(state: &ConnectionState) -> Self {
        Self {
            next_sequence: state.next_sequence,
            cursor: state.cursor.value.clone(),
        }
    }
}

/// The file's content (`connections` a map from connection id to [`Mark`]); `format` lets a
/// later version change it knowingly.
#[derive(Serialize, Deserialize)]
struct Document<C> {
    format: u32,
    connections: C,
}

/// Whether a store whose state went backwards may be opened: only when an operator said so
/// (`courier run --accept-store-rollback`), since it means lost or re-numbered notifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rollback {
    /// Refuse to open it ([`StoreError::WentBackwards`]).
    Refuse,
    /// Open it, log the losses as an ERROR, and take its state as the new marks.
    Accept,
}

/// One connection whose stored state is behind its mark.
#[derive(Debug, Clone, PartialEq)]
pub struct Regression {
    /// The connection's id.
    pub connection: String,
    /// What the store had durably before.
    pub marked: Mark,
    /// What it has now; `None` when the connection is gone from it.
    pub stored: Option<Mark>,
}

impl fmt::Display for Regression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (marked, connection) = (&self.marked, &self.connection);
        match &self.stored {
            None => write!(
                f,
                "connection {connection} is missing (it had next sequence {}, cursor {})",
                marked.next_sequence, marked.cursor
            ),
            Some(stored) => write!(
                f,
                "connection {connection}: next sequence {} -> {}, cursor {} -> {}",
                marked.next_sequence, stored.next_sequence, marked.cursor, stored.cursor
            ),
        }
    }
}

/// Every connection that went backwards, for an error or a log line.
#[derive(Debug, Clone, PartialEq)]
pub struct Regressions(pub Vec<Regression>);

impl fmt::Display for Regressions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&lines.join("; "))
    }
}

/// The store's state is older than its marks: the operator restores a newer copy, or
/// accepts the loss.
#[derive(Debug, thiserror::Error)]
#[error(
    "store {} went backwards: {regressions}. Courier will not start on it. Restore a newer copy \
     of the directory, or start with `courier run --accept-store-rollback` to go on from this \
     older state: what was stored after it (pending notifications, dead letters) is lost, and \
     each connection above polls again from its older cursor, giving the changes the EHR \
     still serves their old ids but sequence numbers that were already sent",
    path.display()
)]
pub struct WentBackwards {
    /// The store's directory.
    pub path: PathBuf,
    /// Each connection that went backwards, from what to what.
    pub regressions: Regressions,
}

/// The connections that went backwards: missing from `stored`, or with a lower next
/// sequence (so containers it had stored are gone, and their numbers will be given again).
/// A store *ahead* of its marks is normal (the marks lag it).
///
/// The cursor alone is not compared: at the same next sequence, an older cursor (with the
/// identities taken at it, restored with it) only reads again pages that made no
/// containers, so nothing is lost or sent twice; and comparing would rest on cursor order,
/// which an opaque cursor does not have, so a healthy store could be refused. The cursor is
/// kept to say where the connection goes back to.
pub fn regressions(
    marked: &BTreeMap<String, Mark>,
    stored: &BTreeMap<String, Mark>,
) -> Regressions {
    let behind = |mark: &Mark, now: &Mark| now.next_sequence < mark.next_sequence;
    Regressions(
        marked
            .iter()
            .filter(|(id, mark)| stored.get(*id).is_none_or(|now| behind(mark, now)))
            .map(|(id, mark)| Regression {
                connection: id.clone(),
                marked: mark.clone(),
                stored: stored.get(id).cloned(),
            })
            .collect(),
    )
}

/// Reads every connection's state from sled, as marks.
pub(super) fn stored(connections: &sled::Tree) -> Result<BTreeMap<String, Mark>, StoreError> {
    connections
        .iter()
        .map(|entry| {
            let (key, value) = entry?;
            let id = String::from_utf8_lossy(&key).into_owned();
            let state: ConnectionState = decode(&id, &value)?;
            Ok((id, Mark::of(&state)))
        })
        .collect()
}

/// Compares the store's state with the marks in `dir` and, unless it went backwards and
/// `rollback` refuses that, returns the marks to keep from now on (written at once).
pub(super) fn check(
    dir: &Path,
    stored: BTreeMap<String, Mark>,
    rollback: Rollback,
) -> Result<MarksFile, StoreError> {
    let path = dir.join(MARKS_FILE);
    if let Some(marked) = read(&path) {
        let lost = regressions(&marked, &stored);
        if !lost.0.is_empty() {
            if rollback == Rollback::Refuse {
                let path = dir.to_owned();
                return Err(WentBackwards {
                    path,
                    regressions: lost,
                }
                .into());
            }
            log::error!(
                "store {} went backwards, accepted (--accept-store-rollback): {lost}; what was \
                 stored after that state is lost",
                dir.display()
            );
        }
    }
    let mut file = MarksFile {
        path,
        committed: Arc::default(),
        durable: stored,
        dirty: true,
        written_at: None,
        failing: false,
    };
    file.write();
    Ok(file)
}

/// The marks in `path`; `None` when there are none yet (a new store, or one from before
/// marks existed), or when they cannot be read, which is only logged: they are rewritten.
fn read(path: &Path) -> Option<BTreeMap<String, Mark>> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return None,
        Err(err) => {
            log::warn!("{}: unreadable, not checked: {err}", path.display());
            return None;
        }
    };
    match serde_json::from_slice::<Document<BTreeMap<String, Mark>>>(&bytes) {
        Ok(document) => Some(document.connections),
        Err(err) => {
            log::warn!("{}: not valid marks, not checked: {err}", path.display());
            None
        }
    }
}

/// The states of commits whose transaction succeeded, waiting for a flush to make them
/// durable; shared by the store (which records) and the flusher (which takes).
#[derive(Default)]
pub(super) struct Committed(Mutex<HashMap<String, Mark>>);

impl Committed {
    /// Records `state`, written in a transaction that has returned, as `connection`'s latest.
    pub fn record(&self, connection: &str, state: &ConnectionState) {
        let mut committed = self.0.lock().expect("never poisoned: no panic while held");
        committed.insert(connection.to_owned(), Mark::of(state));
    }
}

/// Records taken before a flush, merged into the marks once it succeeded.
pub(super) struct Staged(HashMap<String, Mark>);

/// The marks file and the durable marks it holds; owned by the store's flushing thread.
pub(super) struct MarksFile {
    path: PathBuf,
    committed: Arc<Committed>,
    /// Every connection's state as of the last successful flush (or the open).
    durable: BTreeMap<String, Mark>,
    /// Whether `durable` has changed since the file was written.
    dirty: bool,
    written_at: Option<Instant>,
    /// Whether the last write failed, so a failing disk logs once, not every write.
    failing: bool,
}

impl MarksFile {
    /// Where the store records its commits.
    pub fn committed(&self) -> Arc<Committed> {
        Arc::clone(&self.committed)
    }

    /// Takes the commits recorded so far; call it before a flush starts.
    pub fn stage(&self) -> Staged {
        let mut committed = self.committed.0.lock().expect("never poisoned");
        Staged(std::mem::take(&mut *committed))
    }

    /// The flush that started after `staged` was taken succeeded: they are durable.
    pub fn flushed(&mut self, staged: Staged) {
        if !staged.0.is_empty() {
            self.durable.extend(staged.0);
            self.dirty = true;
        }
        self.write_if_due();
    }

    /// How long until unwritten marks are due to be written; `None` when all are written.
    /// The flusher waits no longer than this for its next request, so marks that changed
    /// in a burst followed by silence are written [`WRITE_EVERY`] later, not at the close.
    pub fn due_in(&self) -> Option<Duration> {
        let since = self.written_at.map_or(WRITE_EVERY, |at| at.elapsed());
        self.dirty.then(|| WRITE_EVERY.saturating_sub(since))
    }

    /// Writes unwritten marks if the last write is [`WRITE_EVERY`] old.
    pub fn write_if_due(&mut self) {
        if self.due_in() == Some(Duration::ZERO) {
            self.write();
        }
    }

    /// Writes what is not written yet; called when the store closes.
    pub fn finish(&mut self) {
        if self.dirty {
            self.write();
        }
    }

    fn write(&mut self) {
        self.written_at = Some(Instant::now());
        let document = Document {
            format: 1,
            connections: &self.durable,
        };
        let bytes = serde_json::to_vec(&document).expect("marks always serialize");
        match replace(&self.path, &bytes) {
            Ok(()) => {
                self.dirty = false;
                self.failing = false;
            }
            Err(err) if !self.failing => {
                self.failing = true;
                log::warn!("{}: not written, retried later: {err}", self.path.display());
            }
            Err(_) => {}
        }
    }
}

/// Replaces `path` with `bytes` at once: a reader sees the old file or the new, never half.
fn replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let temporary = path.with_extension("json.tmp");
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(&temporary, path)
}

#[cfg(test)]
mod tests;
