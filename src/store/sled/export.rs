//! Everything a sled store holds, read in key order, for `courier store copy`: each
//! connection's state, the pending containers, the dead letters with their containers, the
//! FHIR cursors and versions seen, record sources' records, and the destinations that
//! retained notifications (whose
//! records the store's own [`RetainedStore::read_retained`](crate::store::RetainedStore)
//! reads). The records come decoded into the model's types, so a reader never needs the key
//! layouts; one that cannot be decoded is an error naming its key.
//!
//! Each iterator reads the files open when it was made; a copy reads a stopped instance's
//! store, which nothing else writes.

use super::{decode, fhir, keys, SledStore};
use crate::model::{Container, DeadLetter, FhirCursor, Recorded, Seen};
use crate::store::traits::ConnectionState;
use crate::store::StoreError;

/// A stored FHIR cursor with what its key says: connection, resource type and track.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FhirCursorRecord {
    /// The connection it belongs to.
    pub connection: String,
    /// The resource type.
    pub type_name: String,
    /// The track's stored name ([`crate::model::Track::name`]).
    pub track: String,
    /// Where that track stands.
    pub cursor: FhirCursor,
}

/// A stored version seen with what its key says: connection, resource type and id.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SeenRecord {
    /// The connection that took it.
    pub connection: String,
    /// The resource type.
    pub type_name: String,
    /// The resource's id.
    pub id: String,
    /// The version taken.
    pub seen: Seen,
}

/// A record source's stored record with what its key says: connection, scope and key.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredRecord {
    /// The connection whose source keeps it.
    pub connection: String,
    /// The scope it belongs to (see [`crate::model::records`]).
    pub scope: String,
    /// The record's key in that scope.
    pub key: String,
    /// What is kept of it.
    pub record: Recorded,
}

/// What the export iterators yield.
pub(crate) type Records<T> = Box<dyn Iterator<Item = Result<T, StoreError>> + Send>;

impl SledStore {
    /// Every connection's stored state, by connection id.
    pub(crate) fn export_connection_states(
        &self,
    ) -> Result<Records<(String, ConnectionState)>, StoreError> {
        let engine = self.engine()?;
        Ok(Box::new(engine.connections.iter().map(|entry| {
            let (key, value) = entry?;
            let connection = String::from_utf8_lossy(&key).into_owned();
            let state = decode(&connection, &value)?;
            Ok((connection, state))
        })))
    }

    /// Every pending container, by connection then sequence.
    pub(crate) fn export_pending(&self) -> Result<Records<Container>, StoreError> {
        let engine = self.engine()?;
        Ok(Box::new(engine.containers.iter().map(|entry| {
            let (key, value) = entry?;
            decode(&keys::describe(&key), &value)
        })))
    }

    /// Every dead letter with the container a retry sends back, by connection then sequence.
    /// `None` for a letter written before containers were kept beside it: a retry rebuilds
    /// that one from the letter's standard body.
    pub(crate) fn export_dead_letters(
        &self,
    ) -> Result<Records<(DeadLetter, Option<Container>)>, StoreError> {
        let engine = self.engine()?;
        let kept = engine.dead_containers.clone();
        Ok(Box::new(engine.dead_letters.iter().map(move |entry| {
            let (key, value) = entry?;
            let what = keys::describe(&key);
            let letter: DeadLetter = decode(&what, &value)?;
            let container = match kept.get(&key)? {
                Some(bytes) => Some(decode(&what, &bytes)?),
                None => None,
            };
            Ok((letter, container))
        })))
    }

    /// Every FHIR cursor, by connection, resource type and track.
    pub(crate) fn export_fhir_cursors(&self) -> Result<Records<FhirCursorRecord>, StoreError> {
        let engine = self.engine()?;
        Ok(Box::new(engine.fhir_cursors.iter().map(|entry| {
            let (key, value) = entry?;
            let (connection, type_name, track) = fhir::parse_key(&key)?;
            Ok(FhirCursorRecord {
                cursor: decode(&format!("{connection}/{type_name}/{track}"), &value)?,
                connection,
                type_name,
                track,
            })
        })))
    }

    /// Every version seen, by connection, resource type and id.
    pub(crate) fn export_fhir_seen(&self) -> Result<Records<SeenRecord>, StoreError> {
        let engine = self.engine()?;
        Ok(Box::new(engine.fhir_seen.iter().map(|entry| {
            let (key, value) = entry?;
            let (connection, type_name, id) = fhir::parse_key(&key)?;
            Ok(SeenRecord {
                seen: decode(&format!("{connection}/{type_name}/{id}"), &value)?,
                connection,
                type_name,
                id,
            })
        })))
    }

    /// Every record source's record, by connection, scope and key (bytes).
    pub(crate) fn export_records(&self) -> Result<Records<StoredRecord>, StoreError> {
        let engine = self.engine()?;
        Ok(Box::new(engine.records.iter().map(|entry| {
            let (stored_key, value) = entry?;
            let (connection, scope, key) = fhir::parse_key(&stored_key)?;
            Ok(StoredRecord {
                record: decode(&format!("{connection}/{scope}/{key}"), &value)?,
                connection,
                scope,
                key,
            })
        })))
    }

    /// The destinations with retained notifications (segment files), by name.
    pub(crate) fn retained_destinations(&self) -> Result<Vec<String>, StoreError> {
        Ok(self.engine()?.retained.destinations()?)
    }
}

/// Whether `path` holds a sled store (opening a directory that holds none would create an
/// empty store in it).
pub(crate) fn is_store(path: &std::path::Path) -> bool {
    path.join(SLED_DATA_FILE).is_file()
}

/// sled's data file, the one it locks while a process has the store open.
const SLED_DATA_FILE: &str = "db";

/// Whether `err` is sled refusing a store that another process holds open: sled 0.34 says so
/// only in its message (`could not acquire lock on …`), as an I/O error of no OS code.
pub(crate) fn is_locked(err: &StoreError) -> bool {
    match err {
        StoreError::Engine(engine) => {
            matches!(engine.fault, crate::store::EngineFault::Io { .. })
                && engine.to_string().contains("could not acquire lock")
        }
        _ => false,
    }
}
