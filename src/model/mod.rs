//! The nouns of the pipeline: a change seen by a poll, the durable container made for it, and
//! the notification delivered for it.

pub mod cursor;
pub mod cursor_state;
pub mod fhir;
pub mod notification;
pub mod positions;
pub mod records;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Ids live with the simulators' side of the wire (`courier-wire`), which recomputes them.
pub use courier_wire::notification_id;
pub use cursor::{CursorKind, CursorValue};
pub use cursor_state::CursorState;
pub use fhir::{FhirChange, FhirCommit, FhirContext, FhirCursor, Seen, Track};
pub use notification::{DeadLetter, Notification, NotificationFormat};
pub use records::{RecordChange, RecordCommit, Recorded};

/// One changed record as a poll found it, before it is made durable.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeItem {
    /// Identifier of the changed record (from `key_pointer`).
    pub key: String,
    /// Which change of that record this is (from `version_pointer`, else the cursor value).
    pub version: String,
    /// The item's position in the feed (from `cursor_pointer`).
    pub cursor: CursorValue,
    /// The item exactly as the EHR sent it.
    pub raw: Value,
    /// `type` of its notification: the connection's `event_type`, filled from this item.
    pub event_type: String,
}

/// A change of `key` at `position` (version 1), for the tests of the cursor rules.
#[cfg(test)]
pub(crate) fn change_at(key: &str, position: &str) -> ChangeItem {
    ChangeItem {
        key: key.into(),
        version: "1".into(),
        cursor: CursorValue::from(position),
        raw: Value::Null,
        event_type: "appointment.updated".into(),
    }
}

impl ChangeItem {
    /// The identity used to drop an item that a re-read returns again.
    pub fn identity(&self) -> String {
        format!("{}\u{0}{}", self.key, self.version)
    }
}

/// A change made durable: it exists in the store from the poll's commit until its notification
/// is acknowledged (2xx) or dead-lettered. Enrichment and delivery always start from one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Container {
    /// Connection that saw the change.
    pub connection: String,
    /// Gap-free per connection, starting at 1, assigned in the poll's commit.
    pub sequence: u64,
    /// Identifier of the changed record.
    pub key: String,
    /// Version of the changed record.
    pub version: String,
    /// Deterministic notification id (see [`notification_id`]).
    pub notification_id: String,
    /// `type` of the notification.
    pub event_type: String,
    /// When the poll's commit created the container.
    pub detected_at: DateTime<Utc>,
    /// The change item as the EHR sent it (for a FHIR source: the resource version, `null`
    /// for a deletion).
    pub change: Value,
    /// For a FHIR source: the focus, what changed, and included resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fhir: Option<FhirContext>,
    /// For a record source that compares listings (not FHIR, whose context says it): the
    /// fields that changed, `data.changed_elements`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_elements: Option<Vec<String>>,
    /// True when a first listing with `initial = "notify"` found the record:
    /// `data.backfill`, so a receiver can tell the schedule it already had from news.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub backfill: bool,
}

impl Container {
    /// The container a notification body was built from (see [`Notification::build`]):
    /// how a dead letter, which keeps the body, goes back to pending unchanged. `None` when
    /// the body lacks a field.
    pub fn from_notification_body(body: &Value) -> Option<Self> {
        let data = body.get("data")?;
        let text = |value: &Value| value.as_str().map(str::to_owned);
        Some(Self {
            connection: text(&data["connection"])?,
            sequence: data["sequence"].as_u64()?,
            key: text(&data["key"])?,
            version: text(&data["version"])?,
            notification_id: text(&body["id"])?,
            event_type: text(&body["type"])?,
            detected_at: data["detected_at"].as_str()?.parse().ok()?,
            change: data.get("change")?.clone(),
            // Only dead letters written before containers were kept beside them come here,
            // and those predate the FHIR and record sources.
            fhir: None,
            changed_elements: None,
            backfill: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notification_body_gives_back_its_container() {
        let container = Container {
            connection: "clinic-a".into(),
            sequence: 17,
            key: "appt-17".into(),
            version: "5".into(),
            notification_id: notification_id("clinic-a", "appt-17", "5"),
            event_type: "appointment.updated".into(),
            detected_at: "2026-11-26T10:00:00.123Z".parse().unwrap(),
            change: serde_json::json!({"id": "appt-17", "seq": 5}),
            fhir: None,
            changed_elements: None,
            backfill: false,
        };
        let built = Notification::build(&container, &serde_json::Map::new(), &[]);
        let body: Value = serde_json::from_slice(&built.body).unwrap();
        assert_eq!(Container::from_notification_body(&body), Some(container));
        assert_eq!(Container::from_notification_body(&Value::Null), None);
    }
}
