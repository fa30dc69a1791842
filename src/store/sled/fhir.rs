//! The FHIR records of the sled backend: one cursor per connection, resource type and track,
//! and the last version seen of each resource, written in the transaction of the page's
//! containers.
//!
//! Keys are `<connection>\0<type>\0<track>` and `<connection>\0<type>\0<id>`; connection ids
//! and FHIR types never contain NUL.

use chrono::{DateTime, Utc};

use super::engine::Engine;
use super::{decode, encode, ready, SledStore};
use crate::model::Container;
use crate::model::{FhirCommit, FhirCursor, Seen, Track};
use crate::store::containers;
use crate::store::traits::{ConnectionState, FhirStore, StoreFuture};
use crate::store::StoreError;

/// A record written (or, without a value, removed) with a page besides its containers.
pub(super) struct Extra {
    pub tree: ExtraTree,
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
}

/// Which tree an [`Extra`] goes to.
pub(super) enum ExtraTree {
    FhirCursors,
    FhirSeen,
    /// A record source's records ([`super::records`]).
    Records,
}

/// `<connection>\0<type>\0<last>`: a FHIR record's key, and a record source's (with the
/// scope in the middle).
pub(super) fn key(connection: &str, type_name: &str, last: &str) -> Vec<u8> {
    [connection, type_name, last].join("\0").into_bytes()
}

/// The three parts of a key [`key`] made: connection, resource type (or scope), and track,
/// id or record key.
pub(super) fn parse_key(key: &[u8]) -> Result<(String, String, String), StoreError> {
    let corrupt = || StoreError::Corrupt {
        key: String::from_utf8_lossy(key).replace('\0', "/"),
        reason: "not a FHIR or record source's key".into(),
    };
    let text = std::str::from_utf8(key).map_err(|_| corrupt())?;
    let mut parts = text.splitn(3, '\0').map(str::to_owned);
    match (parts.next(), parts.next(), parts.next()) {
        (Some(connection), Some(type_name), Some(last)) => Ok((connection, type_name, last)),
        _ => Err(corrupt()),
    }
}

impl FhirStore for SledStore {
    fn fhir_cursor<'a>(
        &'a self,
        connection: &'a str,
        type_name: &'a str,
        track: Track,
    ) -> StoreFuture<'a, Option<FhirCursor>> {
        let key = key(connection, type_name, track.name());
        let what = || format!("{connection}/{type_name}/{}", track.name());
        ready(self.read_record(|engine| &engine.fhir_cursors, &key, what))
    }

    fn fhir_seen<'a>(
        &'a self,
        connection: &'a str,
        type_name: &'a str,
        id: &'a str,
    ) -> StoreFuture<'a, Option<Seen>> {
        let key = key(connection, type_name, id);
        let what = || format!("{connection}/{type_name}/{id}");
        ready(self.read_record(|engine| &engine.fhir_seen, &key, what))
    }

    fn commit_fhir<'a>(
        &'a self,
        connection: &'a str,
        expected: &'a ConnectionState,
        commit: FhirCommit,
        now: DateTime<Utc>,
    ) -> StoreFuture<'a, Vec<Container>> {
        Box::pin(self.commit_fhir_page(connection, expected, commit, now))
    }
}

impl SledStore {
    /// The record under `key` in the tree `tree` picks, decoded; `what` names it in an error.
    pub(super) fn read_record<T: for<'de> serde::Deserialize<'de>>(
        &self,
        tree: impl FnOnce(&Engine) -> &sled::Tree,
        key: &[u8],
        what: impl FnOnce() -> String,
    ) -> Result<Option<T>, StoreError> {
        let engine = self.engine()?;
        let stored = tree(&engine).get(key)?;
        stored.map(|bytes| decode(&what(), &bytes)).transpose()
    }

    /// Makes a FHIR page durable: its containers (numbered from the connection's next
    /// sequence), the versions seen and the resource type's cursor, in one transaction,
    /// flushed before returning. Nothing is written if the connection's state is no longer
    /// `expected`.
    async fn commit_fhir_page(
        &self,
        connection: &str,
        expected: &ConnectionState,
        commit: FhirCommit,
        now: DateTime<Utc>,
    ) -> Result<Vec<Container>, StoreError> {
        let first = expected.next_sequence;
        let containers = containers::of_fhir_changes(connection, first, commit.changes, now);
        let type_name = &commit.type_name;
        let mut extra: Vec<Extra> = commit
            .seen
            .iter()
            .map(|(id, seen)| Extra {
                tree: ExtraTree::FhirSeen,
                key: key(connection, type_name, id),
                value: Some(encode(seen)),
            })
            .collect();
        extra.push(Extra {
            tree: ExtraTree::FhirCursors,
            key: key(connection, type_name, commit.track.name()),
            value: Some(encode(&commit.cursor)),
        });
        self.commit_containers(
            connection,
            expected,
            containers,
            expected.cursor.clone(),
            extra,
        )
        .await
    }
}
