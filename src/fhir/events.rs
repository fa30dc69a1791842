//! What changed, not only that something changed: a small fingerprint of the last version of a
//! FHIR resource, and the semantic event type of a change computed from two fingerprints.
//!
//! # Fingerprint
//! A [`Fingerprint`] is what Courier keeps at rest per resource. It holds no clinical value and
//! no name: only an 8-byte hash per top-level element, an 8-byte hash over those (the content
//! hash), and for an `Appointment` its `status`, `start` and `end`. `resourceType`, `id`,
//! `meta` and `text` are left out: a version that differs only there (a no-op update that
//! bumped `meta.versionId`/`meta.lastUpdated`, or a regenerated narrative) has the same content.
//! A primitive's extension (`_birthDate`) belongs to its element (`birthDate`).
//!
//! The hashes are SHA-256 (first 8 bytes) over canonical JSON (object keys sorted, no
//! whitespace), so the same content gives the same fingerprint whatever the key order the
//! server sent, across restarts and across versions of Courier.
//!
//! # Event types
//! | change | generic type | `Appointment` |
//! |---|---|---|
//! | first time seen | `{Type}.created` | `Appointment.new` |
//! | a later version | `{Type}.updated` | see below |
//! | deleted | `{Type}.deleted` | `Appointment.deleted` |
//!
//! A later version of an appointment is, the first rule that holds winning:
//! 1. `Appointment.cancelled`, `.noshow` or `.arrived`: `status` changed to that value. A
//!    status change names what happened to the visit, so it wins over a time that moved in the
//!    same update (a cancellation that also clears the slot is a cancellation).
//! 2. `Appointment.rescheduled`: `start` or `end` moved to another instant (the same instant
//!    written differently, `…09:00:00Z` vs `…09:00:00.000Z`, is not a move).
//! 3. `Appointment.modified`: anything else, including other status changes (`booked` →
//!    `fulfilled`, `cancelled` → `booked` without a new time).
//!
//! A first-seen appointment is `Appointment.new` whatever its status: its body says the status.
//!
//! `changed_elements` lists, in name order, the top-level elements that differ from the
//! previous version, added and removed ones included. For a first-seen resource it lists every
//! element present (all of them are new); for a delete it is empty. Two versions with the same
//! content give `{Type}.updated`/`Appointment.modified` with no changed elements: the caller
//! skips those ([`Fingerprint::same_content`]).

use std::collections::BTreeMap;

use chrono::DateTime;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Top-level members that are not content: identity, version metadata and the narrative.
const NOT_CONTENT: [&str; 4] = ["resourceType", "id", "meta", "text"];

/// The resource type whose changes get scheduling events.
const APPOINTMENT: &str = "Appointment";

/// What Courier keeps of the last version of a resource seen: enough to say which top-level
/// elements changed and, for an appointment, what happened to the visit. Field names are short
/// because one is stored per resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// Hash over every `(element, hash)` pair: equal exactly when the content is.
    #[serde(rename = "c")]
    content: u64,
    /// Hash of each top-level content element, by element name.
    #[serde(rename = "e")]
    elements: BTreeMap<String, u64>,
    /// An appointment's `status`, `start` and `end`; `None` for other resource types.
    #[serde(rename = "a", default, skip_serializing_if = "Option::is_none")]
    schedule: Option<Schedule>,
}

/// The three appointment values the issue allows at rest, to tell a reschedule or a
/// cancellation from any other edit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Schedule {
    /// `Appointment.status` (`booked`, `cancelled`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<String>,
    /// `Appointment.start`, as the server wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    start: Option<String>,
    /// `Appointment.end`, as the server wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    end: Option<String>,
}

impl Fingerprint {
    /// The fingerprint of a FHIR resource JSON object (anything else has no elements).
    pub fn of(resource: &Value) -> Self {
        let empty = serde_json::Map::new();
        let members = resource.as_object().unwrap_or(&empty);
        let mut elements = BTreeMap::new();
        for name in members.keys().map(|key| key.trim_start_matches('_')) {
            if NOT_CONTENT.contains(&name) || elements.contains_key(name) {
                continue;
            }
            let extension = members.get(&format!("_{name}"));
            elements.insert(name.to_owned(), element_hash(members.get(name), extension));
        }
        let schedule = (resource["resourceType"] == APPOINTMENT).then(|| Schedule {
            status: text_of(&resource["status"]),
            start: text_of(&resource["start"]),
            end: text_of(&resource["end"]),
        });
        Self {
            content: content_hash(&elements),
            elements,
            schedule,
        }
    }

    /// The fingerprint of a record that is not a FHIR resource (a snapshot source's): one
    /// element per top-level member, none left out, no schedule.
    pub fn of_record(record: &Value) -> Self {
        let empty = serde_json::Map::new();
        let members = record.as_object().unwrap_or(&empty);
        let elements = members
            .iter()
            .map(|(name, value)| (name.clone(), element_hash(Some(value), None)))
            .collect();
        Self::of_elements(elements)
    }

    /// The fingerprint of the values at `pointers` only (an absent one counts as `null`), so
    /// fields that change on every read (a "last viewed" time) make no noise: one element
    /// per pointer, named by it.
    pub fn of_pointers(record: &Value, pointers: &[String]) -> Self {
        let elements = pointers
            .iter()
            .map(|pointer| (pointer.clone(), element_hash(record.pointer(pointer), None)))
            .collect();
        Self::of_elements(elements)
    }

    fn of_elements(elements: BTreeMap<String, u64>) -> Self {
        Self {
            content: content_hash(&elements),
            elements,
            schedule: None,
        }
    }

    /// True when the two versions have the same content: a no-op update that only bumped
    /// `meta` (or rewrote the narrative), which is not a change worth a notification.
    pub fn same_content(&self, other: &Fingerprint) -> bool {
        self.content == other.content
    }

    /// The hash of the whole content: part of a record source's change versions, so the same
    /// change gets the same notification id.
    pub fn content_hash(&self) -> u64 {
        self.content
    }

    /// The content elements present, in name order.
    pub fn element_names(&self) -> Vec<String> {
        self.elements.keys().cloned().collect()
    }

    /// Elements added, removed or changed since `previous`, in name order.
    pub fn changed_since(&self, previous: &Fingerprint) -> Vec<String> {
        let mut names: Vec<String> = self
            .elements
            .iter()
            .filter(|(name, hash)| previous.elements.get(*name) != Some(hash))
            .map(|(name, _)| name.clone())
            .chain(
                previous
                    .elements
                    .keys()
                    .filter(|name| !self.elements.contains_key(*name))
                    .cloned(),
            )
            .collect();
        names.sort();
        names
    }
}

/// The semantic event of one change: the notification's `type` and `data.changed_elements`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    /// `{Type}.created|updated|deleted`, or an appointment's scheduling event.
    pub event_type: String,
    /// Top-level elements that differ from the previous version, in name order.
    pub changed_elements: Vec<String>,
}

/// Classifies a change of a resource of `resource_type` (see the module doc for the rules).
/// `current` is `None` when the resource was deleted, `previous` is `None` when it is seen for
/// the first time.
pub fn classify(
    resource_type: &str,
    previous: Option<&Fingerprint>,
    current: Option<&Fingerprint>,
) -> Classified {
    let is_appointment = resource_type == APPOINTMENT;
    let (action, changed_elements) = match (previous, current) {
        (_, None) => ("deleted", Vec::new()),
        (None, Some(current)) => {
            let action = if is_appointment { "new" } else { "created" };
            (action, current.element_names())
        }
        (Some(previous), Some(current)) => {
            let action = if is_appointment {
                appointment_action(previous, current)
            } else {
                "updated"
            };
            (action, current.changed_since(previous))
        }
    };
    Classified {
        event_type: format!("{resource_type}.{action}"),
        changed_elements,
    }
}

/// The scheduling event of a later version of an appointment: a status change to a visit
/// outcome first, then a moved time, else a modification.
fn appointment_action(previous: &Fingerprint, current: &Fingerprint) -> &'static str {
    let none = Schedule::default();
    let before = previous.schedule.as_ref().unwrap_or(&none);
    let after = current.schedule.as_ref().unwrap_or(&none);
    if before.status != after.status {
        match after.status.as_deref() {
            Some("cancelled") => return "cancelled",
            Some("noshow") => return "noshow",
            Some("arrived") => return "arrived",
            _ => {}
        }
    }
    let moved = |a: &Option<String>, b: &Option<String>| !same_instant(a.as_deref(), b.as_deref());
    if moved(&before.start, &after.start) || moved(&before.end, &after.end) {
        "rescheduled"
    } else {
        "modified"
    }
}

/// True when two FHIR `instant`s name the same moment; text that does not parse is compared
/// as text.
fn same_instant(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => match (
            DateTime::parse_from_rfc3339(a),
            DateTime::parse_from_rfc3339(b),
        ) {
            (Ok(a), Ok(b)) => a == b,
            _ => a == b,
        },
        (a, b) => a == b,
    }
}

fn text_of(value: &Value) -> Option<String> {
    value.as_str().map(str::to_owned)
}

/// The hash of one element: its value and its primitive extension (`_name`), each canonical.
fn element_hash(value: Option<&Value>, extension: Option<&Value>) -> u64 {
    let mut bytes = Vec::new();
    write_canonical(value.unwrap_or(&Value::Null), &mut bytes);
    bytes.push(0);
    write_canonical(extension.unwrap_or(&Value::Null), &mut bytes);
    short_hash(&bytes)
}

/// The content hash: every element name (length-prefixed) and its hash, in name order.
fn content_hash(elements: &BTreeMap<String, u64>) -> u64 {
    let mut bytes = Vec::new();
    for (name, hash) in elements {
        bytes.extend_from_slice(&(name.len() as u64).to_be_bytes());
        bytes.extend_from_slice(name.as_bytes());
        bytes.extend_from_slice(&hash.to_be_bytes());
    }
    short_hash(&bytes)
}

/// The first 8 bytes of SHA-256: stable everywhere, and collisions among one resource's
/// versions are negligible.
fn short_hash(bytes: &[u8]) -> u64 {
    let digest = Sha256::digest(bytes);
    u64::from_be_bytes(digest[..8].try_into().expect("SHA-256 has 32 bytes"))
}

/// Writes `value` as JSON with object keys sorted and no whitespace, whatever order the map
/// keeps its keys in.
fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Array(items) => {
            out.push(b'[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        Value::Object(members) => {
            let mut keys: Vec<&String> = members.keys().collect();
            keys.sort();
            out.push(b'{');
            for (index, key) in keys.into_iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write_scalar(&Value::String(key.clone()), out);
                out.push(b':');
                write_canonical(&members[key], out);
            }
            out.push(b'}');
        }
        scalar => write_scalar(scalar, out),
    }
}

fn write_scalar(value: &Value, out: &mut Vec<u8>) {
    serde_json::to_writer(out, value).expect("writing JSON to a Vec cannot fail");
}

#[cfg(test)]
mod tests;
