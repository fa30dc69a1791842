//! The nouns of the sources that cannot say what changed (a listing of a time window, a
//! FHIR search by date, a feed that hands each change out once): what Courier keeps per
//! record between polls, and a page of changes to make durable with it.
//!
//! Records live in a *scope* of their connection: `""` for a snapshot source, the resource
//! type for a FHIR window search, `"consumed"` for a consume-once feed's dedupe entries.
//! Each scope is one keyspace; keys never contain NUL.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{CursorState, FhirContext};
use crate::fhir::events::Fingerprint;

/// What Courier keeps of one record between polls: enough to tell a change from a re-read
/// and say what changed, never the record itself (no clinical value, no name at rest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recorded {
    /// The fingerprint of the version last notified (or recorded by a baseline); `None` once
    /// the record was notified as removed or deleted, kept as a tombstone until its date
    /// leaves the window, so a record that comes back is `created` under a new revision.
    #[serde(rename = "f", default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<Fingerprint>,
    /// How many changes of this record were notified: part of each change's version, so a
    /// record that goes A → B → A gets a new notification id for its third version.
    #[serde(rename = "r")]
    pub revision: u64,
    /// The record's date inside the window, as Unix seconds (a snapshot's `date_pointer`); a
    /// consume-once entry's commit time. `None` when the record had none.
    #[serde(rename = "d", default, skip_serializing_if = "Option::is_none")]
    pub date: Option<i64>,
}

/// One change that gets a container.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordChange {
    /// The container key: the record's identifier (`Type/id` for a FHIR window search).
    pub key: String,
    /// The version: unique per key and change, so the same change gets the same id.
    pub version: String,
    /// The notification's `type`.
    pub event_type: String,
    /// The record as listed (`null` for a removal or deletion).
    pub change: Value,
    /// What changed (JSON pointers or top-level elements), for a non-FHIR record source.
    pub changed_elements: Option<Vec<String>>,
    /// The FHIR side, for a FHIR window search.
    pub fhir: Option<FhirContext>,
    /// True for a record notified by a first listing with `initial = "notify"`.
    pub backfill: bool,
}

/// A page of a record source, to be made durable at once: its containers, the records it
/// changed and the connection's cursor travel together, so a crash keeps all or none.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordCommit {
    /// The scope the records belong to.
    pub scope: String,
    /// The changes that get containers, in order.
    pub changes: Vec<RecordChange>,
    /// Records to write (`Some`) or forget (`None`), by key.
    pub records: Vec<(String, Option<Recorded>)>,
    /// The connection's new cursor, or `None` to leave it where it is.
    pub cursor: Option<CursorState>,
}
