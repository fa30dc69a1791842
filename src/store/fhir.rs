//! How the store keeps what FHIR connections need between polls: one cursor per resource type
//! and track (search or deletions), and the last version seen of each resource, both written
//! in the same transaction as the containers they account for. The types themselves are the
//! model's ([`crate::model::fhir`]).
//!
//! Keys are `<connection>\0<type>\0<track>` and `<connection>\0<type>\0<id>`; connection ids
//! and FHIR types never contain NUL.

use chrono::{DateTime, Utc};

use super::{decode, encode, ConnectionState, Store, StoreError};
use crate::model::{notification_id, Container, FhirCommit, FhirContext, FhirCursor, Seen, Track};

/// A track's name in its cursor's key.
fn track_name(track: Track) -> &'static str {
    match track {
        Track::Search => "search",
        Track::Deletes => "deletes",
    }
}

/// A record written with a page besides its containers.
pub(super) struct Extra {
    pub tree: ExtraTree,
    pub key: Vec<u8>,
    pub value: Vec<u8>,
}

/// Which tree an [`Extra`] goes to.
pub(super) enum ExtraTree {
    FhirCursors,
    FhirSeen,
}

fn key(connection: &str, type_name: &str, last: &str) -> Vec<u8> {
    [connection, type_name, last].join("\0").into_bytes()
}

impl Store {
    /// The stored cursor of a resource type's track, if it ever committed one.
    pub fn fhir_cursor(
        &self,
        connection: &str,
        type_name: &str,
        track: Track,
    ) -> Result<Option<FhirCursor>, StoreError> {
        let key = key(connection, type_name, track_name(track));
        self.engine()?
            .fhir_cursors
            .get(&key)?
            .map(|bytes| {
                decode(
                    &format!("{connection}/{type_name}/{}", track_name(track)),
                    &bytes,
                )
            })
            .transpose()
    }

    /// The last version of `type_name/id` this connection took.
    pub fn fhir_seen(
        &self,
        connection: &str,
        type_name: &str,
        id: &str,
    ) -> Result<Option<Seen>, StoreError> {
        self.engine()?
            .fhir_seen
            .get(key(connection, type_name, id))?
            .map(|bytes| decode(&format!("{connection}/{type_name}/{id}"), &bytes))
            .transpose()
    }

    /// Makes a FHIR page durable: its containers (numbered from the connection's next
    /// sequence), the versions seen and the resource type's cursor, in one transaction,
    /// flushed before returning. Nothing is written if the connection's state is no longer
    /// `expected`.
    pub async fn commit_fhir(
        &self,
        connection: &str,
        expected: &ConnectionState,
        commit: FhirCommit,
        now: DateTime<Utc>,
    ) -> Result<Vec<Container>, StoreError> {
        let containers = commit
            .changes
            .into_iter()
            .zip(expected.next_sequence..)
            .map(|(change, sequence)| Container {
                connection: connection.to_owned(),
                sequence,
                notification_id: notification_id(connection, &change.focus, &change.version),
                key: change.focus.clone(),
                version: change.version,
                event_type: change.event_type,
                detected_at: now,
                change: change.resource,
                fhir: Some(FhirContext {
                    focus: change.focus,
                    changed_elements: change.changed_elements,
                    included: change.included,
                }),
            })
            .collect();
        let type_name = &commit.type_name;
        let mut extra: Vec<Extra> = commit
            .seen
            .iter()
            .map(|(id, seen)| Extra {
                tree: ExtraTree::FhirSeen,
                key: key(connection, type_name, id),
                value: encode(seen),
            })
            .collect();
        extra.push(Extra {
            tree: ExtraTree::FhirCursors,
            key: key(connection, type_name, track_name(commit.track)),
            value: encode(&commit.cursor),
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
