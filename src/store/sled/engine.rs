//! One opening of the store's files: the sled database, its trees, the retained
//! notifications' segment log, the group-commit thread and the backlog counters of what these
//! files hold. A [`super::SledStore`] holds one at a time and replaces it when a write fault left it unusable (see [`super::reopen`]).

use std::path::Path;
use std::sync::Arc;

use std::collections::HashMap;

use super::flusher::Flusher;
use super::marks::{Committed, MarksFile, Rollback};
use super::segments::SegmentLog;
use super::{keys, open, retention};
use crate::store::backlog::Backlogs;
use crate::store::StoreError;

/// How often writes that are not flushed on the spot (a delivered container's removal) reach
/// the disk. A crash can re-send what was acknowledged in this window before it, with the
/// same ids. At 100 ms, the crash torture saw up to 870 duplicates per kill while a backlog
/// drained after an outage (seeds 1, 3, 7: 509–1,342 in all); at 20 ms, 82–236, for no
/// measurable CPU under load (`benches/cost.sh`) and 1.5 ms more CPU per idle second.
pub(super) const BACKGROUND_FLUSH_MS: u64 = 20;

/// sled's page cache. Its default (1 GiB) let the cache of retained notifications grow the
/// process to ~600 MB under sustained load; pages beyond this are read back from disk (a
/// large recovery, a FHIR resource not seen for a while), which costs far less than the
/// memory. At 64 MiB a FHIR connection's versions seen (one record per resource, a tree that
/// only grows) held ~60 MB more than at 16 MiB, for the same CPU (BENCHMARKS.md).
pub(super) const CACHE_BYTES: u64 = 16 * 1024 * 1024;

/// The directory inside the store's path that holds the retained notifications' segments
/// (sled leaves entries it does not know alone).
const RETAINED_DIR: &str = "retained";

/// The tree of each connection's [`crate::store::ConnectionState`].
pub(super) const CONNECTIONS_TREE: &str = "connections";

/// The open files. Dropping the last handle closes them and releases sled's directory lock
/// (the flusher thread is joined first), so the same path can be opened again.
pub(super) struct Engine {
    pub(super) connections: sled::Tree,
    pub(super) containers: sled::Tree,
    pub(super) dead_letters: sled::Tree,
    /// The container of each dead letter, under the same key, for a retry.
    pub(super) dead_containers: sled::Tree,
    /// Delivered notifications kept for replay, by destination and delivery time.
    pub(super) retained: Arc<SegmentLog>,
    /// Makes writes durable, one flush for every caller waiting at the time.
    pub(super) flusher: Flusher,
    /// FHIR search and history cursors, per connection, resource type and track.
    pub(super) fhir_cursors: sled::Tree,
    /// The last version seen of each FHIR resource, per connection (see
    /// [`crate::model::Seen`]).
    pub(super) fhir_seen: sled::Tree,
    /// Record sources' records, per connection and scope (see [`crate::model::Recorded`]).
    pub(super) records: sled::Tree,
    /// Where each committed page's connection state is recorded for the high-water marks;
    /// `None` for a temporary store, which has none.
    pub(super) marks: Option<Arc<Committed>>,
    /// Each connection's pending count and oldest container, counted once at open and kept
    /// by every write to `containers` since.
    pub(super) backlogs: Backlogs,
}

impl Engine {
    /// Opens (or creates) the files in `path`, checked against their high-water marks
    /// ([`open::checked`]).
    pub(super) fn open(path: &Path, rollback: Rollback) -> Result<Self, StoreError> {
        let (db, marks) = match open::checked(path, rollback) {
            // Only after sled itself refused them, so never under a running store's feet.
            Err(StoreError::Damaged(damaged)) => match remove_unfinished_snapshots(path)? {
                0 => return Err(damaged.into()),
                _ => open::checked(path, rollback)?,
            },
            opened => opened?,
        };
        Self::from_parts(db, SegmentLog::open(path.join(RETAINED_DIR))?, Some(marks))
    }

    /// Files that disappear when dropped, for `courier demo`.
    pub(super) fn temporary() -> Result<Self, StoreError> {
        Self::from_parts(
            sled::Config::new().temporary(true).open()?,
            SegmentLog::temporary()?,
            None,
        )
    }

    fn from_parts(
        db: sled::Db,
        retained: SegmentLog,
        marks: Option<MarksFile>,
    ) -> Result<Self, StoreError> {
        retention::migrate_legacy(&db, &retained)?;
        let retained = Arc::new(retained);
        let committed = marks.as_ref().map(MarksFile::committed);
        let flusher = Flusher::start(db.clone(), Arc::clone(&retained), marks)?;
        let containers = db.open_tree("containers")?;
        Ok(Self {
            flusher,
            marks: committed,
            backlogs: Backlogs::new(count_pending(&containers)?),
            connections: db.open_tree(CONNECTIONS_TREE)?,
            containers,
            dead_letters: db.open_tree("dead_letters")?,
            dead_containers: db.open_tree("dead_letter_containers")?,
            retained,
            fhir_cursors: db.open_tree("fhir_cursors")?,
            fhir_seen: db.open_tree("fhir_seen")?,
            records: db.open_tree("records")?,
        })
    }
}

/// How many containers each connection has pending: one walk of the keys, at open.
fn count_pending(containers: &sled::Tree) -> Result<HashMap<String, u64>, StoreError> {
    let mut counts = HashMap::new();
    for key in containers.iter().keys() {
        let key = key?;
        let connection = keys::connection(&key).unwrap_or_default();
        match counts.get_mut(connection) {
            Some(count) => *count += 1,
            None => {
                counts.insert(connection.to_owned(), 1);
            }
        }
    }
    Ok(counts)
}

/// Deletes the snapshot files sled 0.34 did not finish writing. sled writes a snapshot (at
/// open, and every so many operations) to `snap.<lsn>.generating`, then renames it; when the
/// disk refuses the write, the unfinished file stays, and every later open takes it for the
/// newest snapshot and refuses the store as corrupt, for good (the crash torture's disk-full
/// phase found it: a restart on a full disk left one). Deleting it is always safe: it is the
/// state sled sees after a crash before the write, and it rebuilds the snapshot from its log.
/// Answers how many it deleted.
fn remove_unfinished_snapshots(path: &Path) -> Result<usize, StoreError> {
    let mut removed = 0;
    for entry in std::fs::read_dir(path)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            std::fs::remove_file(entry.path())?;
            removed += 1;
            log::warn!(
                "store {}: removed {name}, a snapshot sled did not finish writing (the disk \
                 refused it); sled rebuilds it from its log",
                path.display()
            );
        }
    }
    Ok(removed)
}
