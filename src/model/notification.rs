//! What a receiver gets: the notification built from an enriched container, and the record
//! kept when a notification could not be delivered.

use actix_web::web::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::Container;

/// A notification ready to send: the body is serialized once, so every retry signs and sends
/// the very same bytes.
#[derive(Debug, Clone)]
pub struct Notification {
    /// `webhook-id` and body `id`.
    pub id: String,
    /// Connection that produced it.
    pub connection: String,
    /// The connection's gap-free sequence number.
    pub sequence: u64,
    /// The changed record's identifier (an id, never patient detail).
    pub key: String,
    /// The JSON body.
    pub body: Bytes,
}

impl Notification {
    /// Builds the notification for an enriched container. `missing` names enrichment steps
    /// whose record the EHR no longer had (404/410), which are `null` in `resources`; for a
    /// FHIR container, references that could not be followed.
    ///
    /// A FHIR container's notification has `data.focus` (`Type/id`) and
    /// `data.changed_elements`, and no `data.change`: the focus resource is in
    /// `data.resources` under its type name.
    pub fn build(container: &Container, resources: Map<String, Value>, missing: &[String]) -> Self {
        let detected_at = container
            .detected_at
            .to_rfc3339_opts(SecondsFormat::Millis, true);
        let mut data = json!({
            "connection": container.connection,
            "sequence": container.sequence,
            "key": container.key,
            "version": container.version,
            "detected_at": detected_at,
            "resources": resources,
        });
        match &container.fhir {
            Some(fhir) => {
                data["focus"] = json!(fhir.focus);
                data["changed_elements"] = json!(fhir.changed_elements);
            }
            None => data["change"] = container.change.clone(),
        }
        if !missing.is_empty() {
            data["missing"] = json!(missing);
        }
        let body = json!({
            "id": container.notification_id,
            "type": container.event_type,
            "timestamp": detected_at,
            "data": data,
        });
        Self {
            id: container.notification_id.clone(),
            connection: container.connection.clone(),
            sequence: container.sequence,
            key: container.key.clone(),
            body: Bytes::from(serde_json::to_vec(&body).expect("a JSON value always serializes")),
        }
    }
}

/// One delivery attempt, kept with a dead letter so an operator sees what happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptRecord {
    /// When the attempt started.
    pub at: DateTime<Utc>,
    /// HTTP status, when a response arrived.
    pub status: Option<u16>,
    /// Transport error or status text.
    pub error: Option<String>,
}

/// A notification whose retry schedule ran out: kept with every attempt and the reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The notification id.
    pub notification_id: String,
    /// Connection that produced it.
    pub connection: String,
    /// Its sequence number.
    pub sequence: u64,
    /// Destination that refused it.
    pub destination: String,
    /// Why it was given up.
    pub reason: String,
    /// Every attempt, oldest first.
    pub attempts: Vec<AttemptRecord>,
    /// When it was dead-lettered.
    pub dead_at: DateTime<Utc>,
    /// The body as it would have been sent.
    pub body: Value,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn body_carries_the_id_sequence_change_and_resources() {
        let container = Container {
            connection: "clinic-a".into(),
            sequence: 17,
            key: "appt-17".into(),
            version: "5".into(),
            notification_id: "msg_x".into(),
            event_type: "appointment.updated".into(),
            detected_at: "2026-11-26T10:00:00Z".parse().unwrap(),
            change: json!({"id": "appt-17"}),
            fhir: None,
        };
        let mut resources = Map::new();
        resources.insert("appointment".into(), json!({"id": "appt-17"}));
        resources.insert("patient".into(), Value::Null);
        let n = Notification::build(&container, resources, &["patient".to_owned()]);
        let body: Value = serde_json::from_slice(&n.body).unwrap();
        assert_eq!(body["id"], "msg_x");
        assert_eq!(body["type"], "appointment.updated");
        assert_eq!(body["timestamp"], "2026-11-26T10:00:00.000Z");
        assert_eq!(body["data"]["sequence"], 17);
        assert_eq!(body["data"]["change"]["id"], "appt-17");
        assert_eq!(body["data"]["resources"]["appointment"]["id"], "appt-17");
        assert_eq!(body["data"]["missing"], json!(["patient"]));
    }
}
