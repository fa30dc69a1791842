//! What the store keeps for FHIR connections: one cursor per resource type and track (search
//! or deletions), and the last version seen of each resource, both written in the same
//! transaction as the containers they account for.
//!
//! Keys are `<connection>\0<type>\0<track>` and `<connection>\0<type>\0<id>`; connection ids
//! and FHIR types never contain NUL.

use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{decode, encode, ConnectionState, Store, StoreError};
use crate::fhir::events::Fingerprint;
use crate::model::{notification_id, Container, FhirContext};

/// Which of a resource type's reads a cursor belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Track {
    /// The `_lastUpdated` search.
    Search,
    /// The `_history` read for deletions.
    Deletes,
}

impl Track {
    fn name(self) -> &'static str {
        match self {
            Track::Search => "search",
            Track::Deletes => "deletes",
        }
    }
}

/// Where a resource type's search (or history read) stands. It only moves forward, and only
/// in the transaction that stores what it moved past.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FhirCursor {
    /// A `lastUpdated` instant, as the server wrote it (or `initial_since`, or an upper
    /// bound Courier sent): everything before it was taken.
    pub since: String,
    /// True when every resource at `since` itself was taken too, so the next search starts
    /// strictly after it (`gt`); false means it starts at it (`ge`), dropping what it saw.
    #[serde(default)]
    pub past: bool,
}

/// The last version of a resource Courier took: a re-read of that same version is dropped,
/// and the next one is classified against its fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    /// `meta.versionId` (opaque; only compared for equality).
    #[serde(rename = "v")]
    pub version: String,
    /// The version's fingerprint; `None` once the resource was deleted.
    #[serde(rename = "f")]
    pub fingerprint: Option<Fingerprint>,
    /// When that version was written (`meta.lastUpdated`, or the deletion's time), so a
    /// deletion older than the version seen (the resource was deleted, then written again)
    /// does not make a live resource look deleted.
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<FixedOffset>>,
}

/// One change that gets a container.
#[derive(Debug, Clone)]
pub struct FhirChange {
    /// The container key and `data.focus`: `Type/id`.
    pub focus: String,
    /// The version (a deletion's own version when the server gives one).
    pub version: String,
    /// The classified event type.
    pub event_type: String,
    /// The resource version (`null` for a deletion).
    pub resource: Value,
    /// Top-level elements that changed.
    pub changed_elements: Vec<String>,
    /// Included resources the focus refers to.
    pub included: Vec<Value>,
}

/// A page of one resource type, to be made durable at once.
#[derive(Debug, Clone)]
pub struct FhirCommit {
    /// The resource type.
    pub type_name: String,
    /// Which cursor moves.
    pub track: Track,
    /// The cursor after the page.
    pub cursor: FhirCursor,
    /// The changes that get containers, in order.
    pub changes: Vec<FhirChange>,
    /// Every version taken (no-op updates included), by resource id.
    pub seen: Vec<(String, Seen)>,
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
        let key = key(connection, type_name, track.name());
        self.engine()?
            .fhir_cursors
            .get(&key)?
            .map(|bytes| {
                decode(
                    &format!("{connection}/{type_name}/{}", track.name()),
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
            key: key(connection, type_name, commit.track.name()),
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
