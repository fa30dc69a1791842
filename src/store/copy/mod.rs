//! `courier store copy`: moves a stopped instance's sled store into a PostgreSQL store, so a
//! single machine's state becomes a cluster's without losing or renumbering anything.
//!
//! What it keeps:
//! - Everything moves, under its own key: each connection's cursor and next sequence, the
//!   pending containers (same ids and sequences), the dead letters with the containers a
//!   retry sends back, the FHIR cursors and versions seen, record sources' records, and the
//!   retained notifications (the bytes as delivered, for replay).
//! - One transaction: the target's tables are locked, found empty, filled, and their row
//!   counts checked against what was read before it commits; any failure leaves the target
//!   as it was. A target that already holds state is refused: nothing is merged.
//! - Nothing is deleted from the sled store: it is opened as `courier run` opens it (its
//!   high-water marks checked, an older layout brought up to date) and only read; sled's lock
//!   refuses one a running instance holds open.

mod rows;
mod write;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::postgres::{migrations, Db};
use super::sled::{export, SledStore};
use super::StoreError;
use crate::config::PostgresConfig;

/// What a copy moved, table by table.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Copied {
    /// The PostgreSQL schema copied into.
    pub schema: String,
    /// Connections with a stored cursor and next sequence.
    pub connections: u64,
    /// Containers waiting to be delivered.
    pub pending: u64,
    /// Dead letters (each with its container).
    pub dead_letters: u64,
    /// FHIR cursors (per connection, resource type and track).
    pub fhir_cursors: u64,
    /// FHIR versions seen (per connection, resource type and id).
    pub fhir_seen: u64,
    /// Record sources' records (per connection, scope and key).
    pub records: u64,
    /// Retained notifications copied.
    pub retained: u64,
    /// Destinations they were retained for.
    pub retained_destinations: u64,
    /// Retained records the segment log held twice, copied once.
    pub retained_duplicates: u64,
    /// Damaged stretches of the segment files that could not be read (replay from the sled
    /// store skips them too), each one notification or more.
    pub retained_damaged: u64,
}

impl fmt::Display for Copied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "copied into PostgreSQL schema {}:", self.schema)?;
        writeln!(f, "  connections         {}", self.connections)?;
        writeln!(f, "  pending             {}", self.pending)?;
        writeln!(f, "  dead letters        {}", self.dead_letters)?;
        writeln!(f, "  FHIR cursors        {}", self.fhir_cursors)?;
        writeln!(f, "  FHIR versions seen  {}", self.fhir_seen)?;
        writeln!(f, "  records             {}", self.records)?;
        let destinations = match self.retained_destinations {
            1 => "1 destination".to_owned(),
            n => format!("{n} destinations"),
        };
        write!(
            f,
            "  retained            {} ({destinations})",
            self.retained
        )?;
        if self.retained_duplicates > 0 {
            write!(f, "; {} held twice, copied once", self.retained_duplicates)?;
        }
        if self.retained_damaged > 0 {
            write!(
                f,
                "; {} damaged stretches unreadable, not copied",
                self.retained_damaged
            )?;
        }
        writeln!(f)
    }
}

/// Why nothing was copied.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// The directory holds no sled store (opening it would have created an empty one).
    #[error("{} holds no Courier store", path.display())]
    NoStore {
        /// The directory given.
        path: PathBuf,
    },
    /// A running instance holds the store open.
    #[error(
        "store {} is open in a running instance: stop the instance first",
        path.display()
    )]
    InUse {
        /// The store's directory.
        path: PathBuf,
    },
    /// The target already holds state: a copy never merges nor overwrites.
    #[error(
        "the PostgreSQL schema {schema} already holds state (rows in {}): a copy goes into an \
         empty schema only; use a new database, or another [store] schema",
        tables.join(", ")
    )]
    NotEmpty {
        /// The schema copied into.
        schema: String,
        /// The tables holding rows.
        tables: Vec<&'static str>,
    },
    /// A table's row count after the copy is not what was read (something else wrote it).
    #[error("after the copy {table} holds {stored} rows where {expected} were copied")]
    Mismatch {
        /// The table.
        table: &'static str,
        /// Rows it holds.
        stored: i64,
        /// Rows copied into it.
        expected: u64,
    },
    /// The commit's answer was lost (the connection broke): whether it committed is not
    /// known. Running the copy again tells: a committed copy is refused as not empty.
    #[error(
        "the database did not confirm the commit ({0}): run the copy again to find out whether          it committed (then the target is refused as not empty)"
    )]
    Commit(StoreError),
    /// Reading the sled store or writing the database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Copies the stopped instance's sled store in `from` into the PostgreSQL store `config`
/// names (creating its schema when missing). Call outside any runtime (`courier store copy`).
pub fn copy(from: &Path, config: &PostgresConfig) -> Result<Copied, CopyError> {
    let sled = Arc::new(open_stopped(from)?);
    let db = Db::new(config)?;
    db.block_on(|_| migrations::migrate(&db))?;
    db.block_on(|pool| async move { Ok(write::copy(pool, sled).await) })?
}

/// Copies `sled`, open in this process, into `db`'s schema (migrated first): what [`copy`]
/// does once it opened both.
pub async fn copy_store(sled: Arc<SledStore>, db: &Db) -> Result<Copied, CopyError> {
    migrations::migrate(db).await?;
    db.run(|pool| async move { Ok(write::copy(pool, sled).await) })
        .await?
}

/// Opens the sled store in `path`, which must exist and be closed by every instance.
fn open_stopped(path: &Path) -> Result<SledStore, CopyError> {
    if !export::is_store(path) {
        return Err(CopyError::NoStore {
            path: path.to_owned(),
        });
    }
    SledStore::open(path).map_err(|err| match export::is_locked(&err) {
        true => CopyError::InUse {
            path: path.to_owned(),
        },
        false => err.into(),
    })
}

#[cfg(test)]
mod tests;
