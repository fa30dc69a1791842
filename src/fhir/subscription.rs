//! The FHIR Subscription delivery format: a notification as an R4 Subscriptions Backport
//! notification Bundle (HL7 "Subscriptions R5 Backport" IG, STU 1.1, profile
//! `backport-subscription-notification-r4`), so a receiver written for FHIR Subscriptions
//! works unchanged against an EHR that has none.
//!
//! The Bundle is built from the standard notification body of a FHIR source (`id`, `type`,
//! `timestamp`, `data.sequence`, `data.focus = "Type/id"`, `data.resources`), never from the
//! bytes sent:
//! - `type = history`, `timestamp` = the notification's, `id` a UUID derived from the
//!   notification id (the same for every retry and duplicate).
//! - First entry: a `Parameters` (SubscriptionStatus) with `subscription` =
//!   [`subscription_reference`], `topic` = [`topic_url`], `status = active`,
//!   `type = event-notification`, `events-since-subscription-start` = the connection's
//!   sequence, and one `notification-event` (`event-number` = sequence, `timestamp`, `focus`,
//!   and one `additional-context` per related resource).
//! - `full-resource`: then the focus (`request` POST for a first-seen resource, DELETE for a
//!   delete, PUT otherwise) and each related resource (`request` GET), each with its absolute
//!   `fullUrl`. `id-only`: nothing else; the references are in the status entry, and the
//!   focus names the version that changed (`…/Appointment/a1/_history/3`, from
//!   `data.version` when it is a FHIR id), as the receiver has no other way to know it.

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use url::Url;

use super::is_fhir_id;
use courier_wire::uuid_text;

/// Profile of the notification Bundle, declared in `meta.profile`.
const BUNDLE_PROFILE: &str =
    "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription-notification-r4";
/// Profile of the status `Parameters`, declared in `meta.profile`.
const STATUS_PROFILE: &str =
    "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription-status-r4";
/// Prefix of every topic: a stable identifier per event type, not a resolvable address.
const TOPIC_PREFIX: &str = "urn:courier:topic:";

/// How much of each event a `fhir-subscription` destination receives (the backport IG's
/// payload content codes that Courier can honour).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Payload {
    /// The focus and related resources as Bundle entries.
    #[default]
    FullResource,
    /// Only references: the receiver fetches what it needs itself.
    IdOnly,
}

/// Where a connection's notifications come from: names its subscription and makes the
/// resources' `fullUrl`s absolute.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// The connection id.
    pub connection: &'a str,
    /// The FHIR server's base URL that the resources were read from.
    pub base_url: &'a Url,
}

/// The subscription a connection's notifications come from: `Subscription/<connection>`, with
/// `_` written `.` so that every connection id (up to 64 of A-Z a-z 0-9 _ -) is a valid FHIR
/// id; connection ids never contain `.`, so two connections never share one.
pub fn subscription_reference(connection: &str) -> String {
    format!("Subscription/{}", connection.replace('_', "."))
}

/// The canonical topic of an event type: `urn:courier:topic:<event type>`, such as
/// `urn:courier:topic:Appointment.cancelled`.
pub fn topic_url(event_type: &str) -> String {
    format!("{TOPIC_PREFIX}{event_type}")
}

/// The notification Bundle for a standard notification `body` (see the module doc). A body
/// without `data.focus` gives a Bundle whose event has no focus, no context and no entries
/// besides the status (configuration only pairs FHIR sources with this format).
pub fn notification_bundle(body: &Value, origin: &Origin<'_>, payload: Payload) -> Value {
    let id = body["id"].as_str().unwrap_or_default();
    let timestamp = &body["timestamp"];
    let event = Event::read(body, origin);
    let mut entries = vec![status_entry(body, &event, origin, payload)];
    if payload == Payload::FullResource {
        entries.extend(event.focus.as_ref().map(|focus| focus.entry(event.action)));
        entries.extend(
            event
                .related
                .iter()
                .map(|related| related.entry(Action::Read)),
        );
    }
    history_bundle(id, timestamp, entries)
}

/// The notification Bundle around `entries`: a `history` Bundle whose id derives from the
/// notification (or heartbeat) id `id`, so a resend is byte-identical.
fn history_bundle(id: &str, timestamp: &Value, entries: Vec<Value>) -> Value {
    json!({
        "resourceType": "Bundle",
        "id": derived_uuid("bundle", id),
        "meta": {"profile": [BUNDLE_PROFILE]},
        "type": "history",
        "timestamp": timestamp,
        "entry": entries,
    })
}

/// What the event did to its focus, as a history entry's `request` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Create,
    Update,
    Delete,
    /// A related resource, read to enrich the event.
    Read,
}

impl Action {
    /// The action of an event type: `….created`/`Appointment.new` create, `….deleted`
    /// deletes, anything else updates.
    fn of(event_type: &str) -> Self {
        match event_type.rsplit('.').next() {
            Some("created" | "new") => Self::Create,
            Some("deleted") => Self::Delete,
            _ => Self::Update,
        }
    }
}

/// One resource the Bundle names: its type and id, and its body when the notification had it.
#[derive(Debug, Clone, PartialEq)]
struct Named<'a> {
    kind: String,
    id: String,
    /// The absolute URL on the FHIR server: `fullUrl` and reference.
    url: String,
    resource: Option<&'a Value>,
}

/// The values of one notification that the Bundle is built from.
struct Event<'a> {
    action: Action,
    focus: Option<Named<'a>>,
    /// The focus's version (`data.version`) when it is a FHIR version id: not the instant
    /// or `deleted@…` that stand in for a version a server did not give.
    version: Option<&'a str>,
    related: Vec<Named<'a>>,
}

impl<'a> Event<'a> {
    fn read(body: &'a Value, origin: &Origin<'_>) -> Self {
        let data = &body["data"];
        let action = Action::of(body["type"].as_str().unwrap_or_default());
        let mut focus = data["focus"].as_str().and_then(|focus| {
            let (kind, id) = focus.split_once('/')?;
            Some(Named::new(kind, id, None, origin))
        });
        let mut related: Vec<Named<'a>> = Vec::new();
        // Without a focus the body is not a FHIR source's: its resources are not FHIR ones.
        let resources = data["resources"]
            .as_object()
            .filter(|_| focus.is_some())
            .into_iter()
            .flat_map(Map::values);
        for resource in resources.flat_map(each) {
            let (Some(kind), Some(id)) =
                (resource["resourceType"].as_str(), resource["id"].as_str())
            else {
                continue;
            };
            match &mut focus {
                Some(focus) if focus.kind == kind && focus.id == id => {
                    focus.resource = (action != Action::Delete).then_some(resource);
                }
                _ if related.iter().any(|r| r.kind == kind && r.id == id) => {}
                _ => related.push(Named::new(kind, id, Some(resource), origin)),
            }
        }
        let version = data["version"].as_str().filter(|v| is_fhir_id(v));
        Self {
            action,
            focus,
            version,
            related,
        }
    }
}

/// The resources held under one `data.resources` name: one, several, or none (`null` when
/// enrichment found the target gone). Each names its own type (`resourceType`).
fn each(value: &Value) -> impl Iterator<Item = &Value> {
    let items = match value {
        Value::Array(items) => items.as_slice(),
        other => std::slice::from_ref(other),
    };
    items.iter().filter(|item| item.is_object())
}

impl<'a> Named<'a> {
    fn new(kind: &str, id: &str, resource: Option<&'a Value>, origin: &Origin<'_>) -> Self {
        let base = origin.base_url.as_str().trim_end_matches('/');
        Self {
            kind: kind.to_owned(),
            id: id.to_owned(),
            url: format!("{base}/{kind}/{id}"),
            resource,
        }
    }

    fn reference(&self) -> Value {
        json!({"reference": self.url})
    }

    /// Its reference naming `version` (`{url}/_history/{version}`), or the plain one.
    fn version_reference(&self, version: Option<&str>) -> Value {
        match version {
            Some(version) => json!({"reference": format!("{}/_history/{version}", self.url)}),
            None => self.reference(),
        }
    }

    /// Its history entry: what happened to it, as a request and the server's response.
    fn entry(&self, action: Action) -> Value {
        let instance = format!("{}/{}", self.kind, self.id);
        let (method, url, status) = match action {
            Action::Create => ("POST", self.kind.clone(), "201"),
            Action::Update => ("PUT", instance, "200"),
            Action::Delete => ("DELETE", instance, "204"),
            Action::Read => ("GET", instance, "200"),
        };
        let mut response = json!({"status": status});
        if let Some(meta) = self.resource.map(|r| &r["meta"]) {
            if let Some(version) = meta["versionId"].as_str() {
                response["etag"] = json!(format!("W/\"{version}\""));
            }
            if let Some(at) = meta["lastUpdated"].as_str() {
                response["lastModified"] = json!(at);
            }
        }
        let mut entry = json!({
            "fullUrl": self.url,
            "request": {"method": method, "url": url},
            "response": response,
        });
        if let Some(resource) = self.resource {
            entry["resource"] = resource.clone();
        }
        entry
    }
}

/// The first entry: the subscription's status with this one event, as the `$status`
/// operation would answer. With `id-only` the focus names its version: the receiver has no
/// entry to read it from.
fn status_entry(body: &Value, event: &Event<'_>, origin: &Origin<'_>, payload: Payload) -> Value {
    let id = derived_uuid("status", body["id"].as_str().unwrap_or_default());
    let subscription = subscription_reference(origin.connection);
    let sequence = body["data"]["sequence"]
        .as_u64()
        .map(|n| n.to_string())
        .unwrap_or_default();
    let mut parts = vec![
        json!({"name": "event-number", "valueString": sequence}),
        json!({"name": "timestamp", "valueInstant": body["timestamp"]}),
    ];
    let version = event.version.filter(|_| payload == Payload::IdOnly);
    parts.extend(
        event
            .focus
            .iter()
            .map(|f| json!({"name": "focus", "valueReference": f.version_reference(version)})),
    );
    parts.extend(
        event
            .related
            .iter()
            .map(|r| json!({"name": "additional-context", "valueReference": r.reference()})),
    );
    let mut entry = subscription_status(
        &id,
        &subscription,
        &topic_url(body["type"].as_str().unwrap_or_default()),
        "event-notification",
        &sequence,
    );
    let parameters = entry["resource"]["parameter"]
        .as_array_mut()
        .expect("subscription_status lists parameters");
    parameters.push(json!({"name": "notification-event", "part": parts}));
    entry
}

/// A SubscriptionStatus entry (a `Parameters` resource, as the `$status` operation answers)
/// of `notification_type` (`event-notification`, `heartbeat`), without events.
fn subscription_status(
    id: &str,
    subscription: &str,
    topic: &str,
    notification_type: &str,
    events_since_start: &str,
) -> Value {
    json!({
        "fullUrl": format!("urn:uuid:{id}"),
        "resource": {
            "resourceType": "Parameters",
            "id": id,
            "meta": {"profile": [STATUS_PROFILE]},
            "parameter": [
                {"name": "subscription", "valueReference": {"reference": subscription}},
                {"name": "topic", "valueCanonical": topic},
                {"name": "status", "valueCode": "active"},
                {"name": "type", "valueCode": notification_type},
                {"name": "events-since-subscription-start", "valueString": events_since_start},
            ],
        },
        "request": {"method": "GET", "url": format!("{subscription}/$status")},
        "response": {"status": "200"},
    })
}

/// A heartbeat as the backport IG sends one: a `history` Bundle holding only the
/// subscription's status with `type = heartbeat`, `events-since-subscription-start` = the
/// connection's last sequence number, and no event. `id` is the heartbeat's id (fresh each
/// time); `timestamp` an RFC 3339 instant.
pub fn heartbeat_bundle(id: &str, connection: &str, last_sequence: u64, timestamp: &str) -> Value {
    let status = derived_uuid("status", id);
    let subscription = subscription_reference(connection);
    let status_entry = subscription_status(
        &status,
        &subscription,
        &topic_url("courier.heartbeat"),
        "heartbeat",
        &last_sequence.to_string(),
    );
    history_bundle(id, &json!(timestamp), vec![status_entry])
}

/// A UUID (RFC 9562 version 8, name-based on SHA-256) for `label` of notification `id`: the
/// same notification always gets the same ids.
fn derived_uuid(label: &str, id: &str) -> String {
    let digest = Sha256::new()
        .chain_update(label.as_bytes())
        .chain_update([0])
        .chain_update(id.as_bytes())
        .finalize();
    let mut bytes: [u8; 16] = digest[..16].try_into().expect("SHA-256 has 32 bytes");
    bytes[6] = (bytes[6] & 0x0f) | 0x80;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    uuid_text(bytes)
}

#[cfg(test)]
mod tests;
