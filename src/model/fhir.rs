//! The FHIR nouns of the pipeline: where a resource type's reads stand, the last version of a
//! resource Courier took, a change that gets a container, a page to commit, and what a FHIR
//! container carries besides the resource.

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::fhir::events::Fingerprint;

/// The FHIR side of a container, fixed when the poll commits it so a redelivery after a
/// restart says the same thing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FhirContext {
    /// `Type/id` of the changed resource: the notification's `data.focus`.
    pub focus: String,
    /// Top-level elements that differ from the previous version seen (all of them for a
    /// first sighting, none for a deletion).
    pub changed_elements: Vec<String>,
    /// Resources the search returned with `search.mode = "include"` that the focus resource
    /// refers to, so enrichment need not fetch them again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub included: Vec<Value>,
}

/// Which of a resource type's reads a cursor belongs to: each moves on its own, so a
/// deletions read that cannot be done does not hold up the search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Track {
    /// The `_lastUpdated` search.
    Search,
    /// The `_history` read for deletions.
    Deletes,
}

impl Track {
    /// The track's name in stored keys.
    pub fn name(self) -> &'static str {
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

/// One change that gets a container: what the commit numbers and stores.
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

/// A page of one resource type, to be made durable at once: its containers, the versions it
/// took and its cursor travel together, so a crash keeps all or none of them.
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
