//! `format = "fhir-subscription"` end to end from the notification onwards: a FHIR source's
//! notification (shaped as the FHIR source builds it) rendered for a destination configured
//! from TOML, delivered by the real delivery worker to a receiver on loopback, and checked as
//! the receiver gets it: a notification Bundle, signed as any other notification.
//!
//! The test starts at the body the enricher renders; `fhir_end_to_end` runs the whole way
//! from a polled FHIR server.

use std::sync::Arc;

use courier::config::Config;
use courier::delivery::gate::DestinationGate;
use courier::delivery::sender::destination_client;
use courier::delivery::worker::{deliver, DeliveryContext, Final};
use courier::fhir::subscription::Origin;
use courier::model::{notification_id, Container, Notification};
use courier::status::StatusBoard;
use courier::store::Store;
use courier_sim::{Received, SimReceiver};
use serde_json::{json, Value};

use crate::support::app::{config_text, parse_config, start_receiver, SECRET_ENV};
use crate::support::fhir_library::parse_bundles;
use crate::support::python::{reference_verify, SignedMessage};

const CONNECTION: &str = "hospital-b";
const BASE_URL: &str = "https://fhir.example.org/R4";

/// The official HL7 R4 examples the unit tests use too.
fn example(name: &str) -> Value {
    let text = match name {
        "Appointment" => include_str!("../../src/fhir/testdata/Appointment-example.json"),
        _ => include_str!("../../src/fhir/testdata/Patient-example.json"),
    };
    serde_json::from_str(text).unwrap()
}

/// A configuration whose destinations `full` and `ids` (FHIR Subscription, both payloads)
/// post to `url`; destination `app` serves the one (changes-feed) connection a file needs.
fn config(url: &str, secret: &str, store: &std::path::Path) -> Config {
    let mut text = config_text(store, url, "", &[]);
    text.push_str(&format!(
        "\n[connections.clinic-a]\ndestination = \"app\"\nsource = \"changes\"\n\
         base_url = {url:?}\nchanges_path = \"/changed\"\nkey_pointer = \"/id\"\n\
         cursor_pointer = \"/seq\"\nevent_type = \"appointment.updated\"\n"
    ));
    for (id, payload) in [("full", "full-resource"), ("ids", "id-only")] {
        text.push_str(&format!(
            "\n[destinations.{id}]\nurl = {url:?}\nsecret_env = {SECRET_ENV:?}\n\
             retry_schedule_secs = [0.05, 0.1]\nformat = \"fhir-subscription\"\n\
             payload = {payload:?}\n"
        ));
    }
    parse_config(&text, secret)
}

/// A cancelled appointment as the FHIR source notifies it: its container, and the standard
/// body with `data.focus` and the enriched `data.resources`.
fn cancellation(sequence: u64) -> (Container, Value) {
    let key = "Appointment/example";
    let container = Container {
        connection: CONNECTION.into(),
        sequence,
        key: key.into(),
        version: sequence.to_string(),
        notification_id: notification_id(CONNECTION, key, &sequence.to_string()),
        event_type: "Appointment.cancelled".into(),
        detected_at: "2026-11-26T10:00:00.250Z".parse().unwrap(),
        change: Value::Null,
        fhir: None,
        changed_elements: None,
        backfill: false,
    };
    let mut appointment = example("Appointment");
    appointment["status"] = json!("cancelled");
    appointment["meta"] = json!({"versionId": sequence.to_string()});
    let body = json!({
        "id": container.notification_id,
        "type": container.event_type,
        "timestamp": "2026-11-26T10:00:00.250Z",
        "data": {
            "connection": CONNECTION,
            "sequence": sequence,
            "version": sequence.to_string(),
            "focus": key,
            "changed_elements": ["status"],
            "resources": {"Appointment": appointment, "Patient": example("Patient")},
        },
    });
    (container, body)
}

/// Renders `body` for destination `id` as the enricher does, and delivers it.
async fn deliver_to(config: &Config, id: &str, store: &Store, container: &Container, body: Value) {
    let destination = Arc::new(config.destinations[id].clone());
    let base_url = url::Url::parse(BASE_URL).unwrap();
    let origin = Origin {
        connection: CONNECTION,
        base_url: &base_url,
    };
    let body = destination.format.render(body, &origin);
    let notification = Notification::from_body(container, &body);
    let board = StatusBoard::default();
    let gate = DestinationGate::new(id, destination.failure_threshold, board.clone());
    let context = DeliveryContext {
        http: destination_client(&destination),
        destination,
        store: store.clone(),
        board,
        gate: Arc::new(gate),
    };
    assert_eq!(
        deliver(&context, &notification, None).await,
        Final::Delivered
    );
}

fn signed(received: &Received) -> SignedMessage {
    SignedMessage {
        id: received.id.clone(),
        timestamp: received.timestamp.clone(),
        signature: received.signature.clone(),
        body: received.body.clone(),
    }
}

/// The entries' `fullUrl`s after the status entry.
fn entry_urls(bundle: &Value) -> Vec<String> {
    bundle["entry"].as_array().unwrap()[1..]
        .iter()
        .map(|entry| entry["fullUrl"].as_str().unwrap().to_owned())
        .collect()
}

struct Rig {
    receiver: SimReceiver,
    secret: String,
    config: Config,
    store: Store,
    _dir: tempfile::TempDir,
}

fn rig() -> Rig {
    let (receiver, secret) = start_receiver();
    let dir = tempfile::tempdir().unwrap();
    let config = config(&receiver.url(), &secret, dir.path());
    let store = Store::open(&dir.path().join("store")).unwrap();
    Rig {
        receiver,
        secret,
        config,
        store,
        _dir: dir,
    }
}

#[actix_rt::test]
async fn a_fhir_subscription_receiver_gets_a_signed_full_resource_bundle() {
    let rig = rig();
    let (container, body) = cancellation(7);
    deliver_to(&rig.config, "full", &rig.store, &container, body).await;
    let received = rig.receiver.control().received();
    assert_eq!(received.len(), 1);
    let got = &received[0];
    assert!(got.verified, "the receiver verified the signature");
    assert_eq!(got.content_type, "application/fhir+json");
    assert_eq!(
        got.id, container.notification_id,
        "webhook-id is the notification id"
    );
    assert_eq!(reference_verify(&rig.secret, &[signed(got)]), [true]);
    let bundle = &got.json;
    assert_eq!(bundle["resourceType"], "Bundle");
    assert_eq!(bundle["type"], "history");
    let status = &bundle["entry"][0]["resource"];
    assert_eq!(status["resourceType"], "Parameters");
    let parameter = |name: &str| {
        let all = status["parameter"].as_array().unwrap();
        all.iter().find(|p| p["name"] == name).cloned().unwrap()
    };
    assert_eq!(parameter("type")["valueCode"], "event-notification");
    assert_eq!(
        parameter("events-since-subscription-start")["valueString"],
        "7"
    );
    assert_eq!(
        parameter("topic")["valueCanonical"],
        "urn:courier:topic:Appointment.cancelled"
    );
    let event = &parameter("notification-event")["part"];
    assert_eq!(
        event[0],
        json!({"name": "event-number", "valueString": "7"})
    );
    let focus = json!({"reference": format!("{BASE_URL}/Appointment/example")});
    assert_eq!(event[2], json!({"name": "focus", "valueReference": focus}));
    let urls = entry_urls(bundle);
    assert_eq!(
        urls,
        [
            format!("{BASE_URL}/Appointment/example"),
            format!("{BASE_URL}/Patient/example")
        ]
    );
    assert_eq!(bundle["entry"][1]["resource"]["status"], "cancelled");
    assert_eq!(bundle["entry"][2]["resource"]["birthDate"], "1974-12-25");
}

#[actix_rt::test]
async fn an_id_only_receiver_gets_references_and_no_resource() {
    let rig = rig();
    let (container, body) = cancellation(8);
    deliver_to(&rig.config, "ids", &rig.store, &container, body).await;
    let received = rig.receiver.control().received();
    assert_eq!(received.len(), 1);
    assert!(received[0].verified);
    assert_eq!(
        reference_verify(&rig.secret, &[signed(&received[0])]),
        [true]
    );
    let bundle = &received[0].json;
    assert!(entry_urls(bundle).is_empty());
    let text = String::from_utf8(received[0].body.clone()).unwrap();
    for detail in ["Chalmers", "1974-12-25", "\"status\":\"cancelled\""] {
        assert!(
            !text.contains(detail),
            "{detail} sent with payload = id-only"
        );
    }
    let focus = format!("{BASE_URL}/Appointment/example/_history/8");
    assert!(text.contains(&focus), "the focus names its version: {text}");
    assert!(text.contains(&format!("{BASE_URL}/Patient/example")));
    assert_eq!(received[0].content_type, "application/fhir+json");
}

#[actix_rt::test]
async fn a_retried_bundle_is_the_same_bytes_signed_again() {
    let rig = rig();
    rig.receiver.control().respond_with(vec![503]);
    let (container, body) = cancellation(9);
    deliver_to(&rig.config, "full", &rig.store, &container, body).await;
    let received = rig.receiver.control().received();
    assert_eq!(
        received.iter().map(|r| r.answered).collect::<Vec<_>>(),
        [503, 200]
    );
    assert_eq!(received[0].body, received[1].body);
    assert_eq!(received[0].id, received[1].id);
    let messages: Vec<_> = received.iter().map(signed).collect();
    assert_eq!(reference_verify(&rig.secret, &messages), [true, true]);
}

#[actix_rt::test]
async fn a_fhir_library_reads_every_bundle_as_the_receiver_got_it() {
    let rig = rig();
    let (container, body) = cancellation(10);
    deliver_to(&rig.config, "full", &rig.store, &container, body).await;
    let (container, body) = cancellation(11);
    deliver_to(&rig.config, "ids", &rig.store, &container, body).await;
    let (mut container, mut body) = cancellation(12);
    container.event_type = "Appointment.deleted".into();
    body["type"] = json!("Appointment.deleted");
    body["data"]["resources"] = json!({});
    deliver_to(&rig.config, "full", &rig.store, &container, body).await;
    let mut bundles: Vec<Value> = rig
        .receiver
        .control()
        .received()
        .into_iter()
        .map(|r| r.json)
        .collect();
    // The models are strict: an element they do not know is refused.
    let mut unknown = bundles[1].clone();
    unknown["entry"][0]["resource"]["parameter"][0]["valueRef"] = json!({"reference": "x"});
    bundles.push(unknown);
    let parsed = parse_bundles(&bundles);
    let parameters = [
        "subscription",
        "topic",
        "status",
        "type",
        "events-since-subscription-start",
        "notification-event",
    ];
    let shape = |resources: Value| json!({"type": "history", "resources": resources, "parameters": parameters});
    assert_eq!(
        parsed[0],
        shape(json!(["Parameters", "Appointment", "Patient"]))
    );
    assert_eq!(parsed[1], shape(json!(["Parameters"])));
    assert_eq!(parsed[2], shape(json!(["Parameters", null])));
    assert!(
        parsed[3]["error"].as_str().unwrap().contains("valueRef"),
        "{}",
        parsed[3]
    );
}
