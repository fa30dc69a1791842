//! What a receiver gets: the notification built from an enriched container, and the record
//! kept when a notification could not be delivered.

use actix_web::web::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Container;
use crate::fhir::subscription::{notification_bundle, Origin, Payload};

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

/// The standard body, serialized straight from the container and the enrichment results
/// (no `Value` tree is built for it, and the change is not cloned). Fields are declared in
/// alphabetical order: the order `serde_json`'s sorted `Map` gave the body when it was built
/// as a `Value`, so the bytes are the same as before.
#[derive(Serialize)]
struct StandardBody<'a> {
    data: StandardData<'a>,
    id: &'a str,
    timestamp: &'a str,
    #[serde(rename = "type")]
    event_type: &'a str,
}

/// `data` of [`StandardBody`]; alphabetical, like it.
#[derive(Serialize)]
struct StandardData<'a> {
    /// True for a record a first listing with `initial = "notify"` found; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    backfill: Option<bool>,
    /// The change item as the EHR sent it; absent for a FHIR container.
    #[serde(skip_serializing_if = "Option::is_none")]
    change: Option<&'a Value>,
    /// What changed: a FHIR container's top-level elements, a snapshot source's compared
    /// fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    changed_elements: Option<&'a [String]>,
    connection: &'a str,
    detected_at: &'a str,
    /// A FHIR container's focus, `Type/id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    focus: Option<&'a str>,
    key: &'a str,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    missing: &'a [String],
    resources: &'a Map<String, Value>,
    sequence: u64,
    version: &'a str,
}

/// Room reserved for a body before serializing it: most bodies fit, so the buffer is not
/// regrown several times on the way.
const BODY_CAPACITY: usize = 2048;

impl Notification {
    /// Builds the notification for an enriched container. `missing` names enrichment steps
    /// whose record the EHR no longer had (404/410), which are `null` in `resources`; for a
    /// FHIR container, references that could not be followed.
    ///
    /// A FHIR container's notification has `data.focus` (`Type/id`) and
    /// `data.changed_elements`, and no `data.change`: the focus resource is in
    /// `data.resources` under its type name.
    pub fn build(
        container: &Container,
        resources: &Map<String, Value>,
        missing: &[String],
    ) -> Self {
        let detected_at = detected_at(container);
        let body = StandardBody::of(container, &detected_at, resources, missing);
        let mut bytes = Vec::with_capacity(BODY_CAPACITY);
        serde_json::to_writer(&mut bytes, &body).expect("a notification body always serializes");
        Self::with_bytes(container, bytes)
    }

    /// The notification of `container` in `format`: the standard body is serialized
    /// directly; other formats are rendered from it (see [`NotificationFormat::render`]).
    pub fn build_in(
        format: NotificationFormat,
        container: &Container,
        resources: Map<String, Value>,
        missing: &[String],
        origin: &Origin<'_>,
    ) -> Self {
        match format {
            NotificationFormat::Standard => Self::build(container, &resources, missing),
            NotificationFormat::FhirSubscription(_) => {
                let body = Self::standard_body(container, resources, missing);
                Self::from_body(container, &format.render(body, origin))
            }
        }
    }

    /// The standard body (`format = "standard"`) of an enriched container as a JSON value,
    /// for formats rendered from it; see [`Self::build`].
    pub fn standard_body(
        container: &Container,
        resources: Map<String, Value>,
        missing: &[String],
    ) -> Value {
        let detected_at = detected_at(container);
        let empty = Map::new();
        let body = StandardBody::of(container, &detected_at, &empty, missing);
        let mut value = serde_json::to_value(&body).expect("a notification body always converts");
        value["data"]["resources"] = Value::Object(resources);
        value
    }

    /// The notification of `container` with `body` (in whatever format its destination
    /// takes), serialized once.
    pub fn from_body(container: &Container, body: &Value) -> Self {
        let mut bytes = Vec::with_capacity(BODY_CAPACITY);
        serde_json::to_writer(&mut bytes, body).expect("a JSON value always serializes");
        Self::with_bytes(container, bytes)
    }

    fn with_bytes(container: &Container, body: Vec<u8>) -> Self {
        Self {
            id: container.notification_id.clone(),
            connection: container.connection.clone(),
            sequence: container.sequence,
            key: container.key.clone(),
            body: Bytes::from(body),
        }
    }
}

impl<'a> StandardBody<'a> {
    fn of(
        container: &'a Container,
        detected_at: &'a str,
        resources: &'a Map<String, Value>,
        missing: &'a [String],
    ) -> Self {
        Self {
            data: StandardData {
                backfill: container.backfill.then_some(true),
                change: container.fhir.is_none().then_some(&container.change),
                changed_elements: match &container.fhir {
                    Some(fhir) => Some(fhir.changed_elements.as_slice()),
                    None => container.changed_elements.as_deref(),
                },
                connection: &container.connection,
                detected_at,
                focus: container.fhir.as_ref().map(|fhir| fhir.focus.as_str()),
                key: &container.key,
                missing,
                resources,
                sequence: container.sequence,
                version: &container.version,
            },
            id: &container.notification_id,
            timestamp: detected_at,
            event_type: &container.event_type,
        }
    }
}

/// When the change was detected, as the body writes it.
fn detected_at(container: &Container) -> String {
    container
        .detected_at
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `format` of a destination: the shape of the bodies it receives. Signing and headers are the
/// same in every format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NotificationFormat {
    /// Courier's own body: `id`, `type`, `timestamp`, `data`.
    #[default]
    Standard,
    /// An R4 Subscriptions Backport notification Bundle (see [`crate::fhir::subscription`]).
    FhirSubscription(Payload),
}

impl NotificationFormat {
    /// The media type of the bodies this format sends (`Content-Type`): FHIR's own for a
    /// FHIR Bundle, so a FHIR receiver or library reads it as FHIR.
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Standard => "application/json",
            Self::FhirSubscription(_) => "application/fhir+json",
        }
    }

    /// The body this format sends for a notification whose standard body is `body`, from the
    /// connection `origin`.
    pub fn render(self, body: Value, origin: &Origin<'_>) -> Value {
        match self {
            Self::Standard => body,
            Self::FhirSubscription(payload) => notification_bundle(&body, origin, payload),
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

    fn container() -> Container {
        Container {
            connection: "clinic-a".into(),
            sequence: 17,
            key: "appt-17".into(),
            version: "5".into(),
            notification_id: "msg_x".into(),
            event_type: "appointment.updated".into(),
            detected_at: "2026-11-26T10:00:00Z".parse().unwrap(),
            change: json!({"id": "appt-17"}),
            fhir: None,
            changed_elements: None,
            backfill: false,
        }
    }

    #[test]
    fn body_carries_the_id_sequence_change_and_resources() {
        let container = container();
        let mut resources = Map::new();
        resources.insert("appointment".into(), json!({"id": "appt-17"}));
        resources.insert("patient".into(), Value::Null);
        let n = Notification::build(&container, &resources, &["patient".to_owned()]);
        let body: Value = serde_json::from_slice(&n.body).unwrap();
        assert_eq!(body["id"], "msg_x");
        assert_eq!(body["type"], "appointment.updated");
        assert_eq!(body["timestamp"], "2026-11-26T10:00:00.000Z");
        assert_eq!(body["data"]["sequence"], 17);
        assert_eq!(body["data"]["change"]["id"], "appt-17");
        assert_eq!(body["data"]["resources"]["appointment"]["id"], "appt-17");
        assert_eq!(body["data"]["missing"], json!(["patient"]));
    }

    #[test]
    fn a_record_sources_body_says_what_changed_and_whether_it_is_a_backfill() {
        let mut container = container();
        let plain: Value =
            serde_json::from_slice(&Notification::build(&container, &Map::new(), &[]).body)
                .unwrap();
        assert_eq!(plain["data"].get("backfill"), None);
        assert_eq!(plain["data"].get("changed_elements"), None);
        container.changed_elements = Some(vec!["/status".into()]);
        container.backfill = true;
        let built = Notification::build(&container, &Map::new(), &[]);
        let body: Value = serde_json::from_slice(&built.body).unwrap();
        assert_eq!(body["data"]["changed_elements"], json!(["/status"]));
        assert_eq!(body["data"]["backfill"], true);
    }

    #[test]
    fn each_format_renders_its_body_from_the_standard_one() {
        let container = container();
        let base = url::Url::parse("https://fhir.example.org/R4").unwrap();
        let origin = Origin {
            connection: "clinic-a",
            base_url: &base,
        };
        let standard = Notification::standard_body(&container, Map::new(), &[]);
        let rendered = NotificationFormat::Standard.render(standard.clone(), &origin);
        let built = Notification::build(&container, &Map::new(), &[]);
        assert_eq!(
            Notification::from_body(&container, &rendered).body,
            built.body
        );
        let bundle_format = NotificationFormat::FhirSubscription(Payload::IdOnly);
        let bundle = bundle_format.render(standard, &origin);
        let notification =
            Notification::build_in(bundle_format, &container, Map::new(), &[], &origin);
        assert_eq!(
            notification.body,
            Notification::from_body(&container, &bundle).body
        );
        assert_eq!(
            notification.id, "msg_x",
            "webhook-id stays the notification id"
        );
        assert_eq!(notification.sequence, 17);
        let sent: Value = serde_json::from_slice(&notification.body).unwrap();
        assert_eq!(sent["resourceType"], "Bundle");
        assert_eq!(sent["type"], "history");
        assert_eq!(sent["timestamp"], "2026-11-26T10:00:00.000Z");
    }

    /// The body as it was built before it was serialized directly: a `json!` value (whose
    /// keys `serde_json` sorts). Receivers see exactly these bytes.
    fn body_as_a_value(
        container: &Container,
        resources: &Map<String, Value>,
        missing: &[String],
    ) -> Value {
        let detected_at = "2026-11-26T10:00:00.000Z";
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
        json!({
            "id": container.notification_id,
            "type": container.event_type,
            "timestamp": detected_at,
            "data": data,
        })
    }

    #[test]
    fn the_standard_body_has_the_bytes_of_the_json_value_it_describes() {
        let mut container = container();
        container.change = json!({"id": "appt-17", "seq": 5, "note": "quote \" and é"});
        let mut resources = Map::new();
        resources.insert(
            "patient".into(),
            json!({"name": [{"family": "Doe"}], "id": "p"}),
        );
        resources.insert(
            "appointment".into(),
            json!({"status": "booked", "id": "appt-17"}),
        );
        let mut fhir = container.clone();
        fhir.fhir = Some(crate::model::FhirContext {
            focus: "Appointment/appt-17".into(),
            changed_elements: vec!["start".into(), "status".into()],
            included: Vec::new(),
        });
        let cases = [
            (&container, vec![]),
            (&container, vec!["location".to_owned()]),
            (&fhir, vec![]),
            (&fhir, vec!["Patient/p".to_owned()]),
        ];
        for (container, missing) in cases {
            let expected = serde_json::to_vec(&body_as_a_value(container, &resources, &missing));
            let built = Notification::build(container, &resources, &missing);
            assert_eq!(
                String::from_utf8(built.body.to_vec()).unwrap(),
                String::from_utf8(expected.unwrap()).unwrap()
            );
            let value = Notification::standard_body(container, resources.clone(), &missing);
            assert_eq!(value, body_as_a_value(container, &resources, &missing));
        }
    }
}
