//! Heartbeats: the `courier.heartbeat` event a connection sends when it has delivered nothing
//! for `heartbeat_secs`, so a receiver can tell a quiet feed from a broken one, and spot a gap
//! from the last sequence number it carries.
//!
//! A heartbeat is not data: it is sent once, never retried, never stored. Its id is `hb_`
//! followed by 32 random hex digits, new for every heartbeat, so a receiver that drops
//! duplicates by `webhook-id` never drops one, and it can never equal a notification id
//! (those start with `msg_`).

use std::time::Duration;

use actix_web::web::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;

use crate::fhir::subscription::heartbeat_bundle;
use crate::model::{Notification, NotificationFormat};

/// The `type` of a heartbeat event.
pub const HEARTBEAT_TYPE: &str = "courier.heartbeat";

/// A fresh heartbeat id: `hb_` and 128 random bits in hex.
pub fn heartbeat_id() -> String {
    format!("hb_{:032x}", fastrand::u128(..))
}

/// The heartbeat of `connection`, whose last assigned sequence number is `last_sequence`
/// (0 when it has made none), sent at `now`, in the destination's `format`: a
/// `fhir-subscription` destination gets the backport IG's own heartbeat Bundle.
pub fn heartbeat(
    connection: &str,
    last_sequence: u64,
    now: DateTime<Utc>,
    format: NotificationFormat,
) -> Notification {
    let id = heartbeat_id();
    let timestamp = now.to_rfc3339_opts(SecondsFormat::Millis, true);
    let body = match format {
        NotificationFormat::Standard => json!({
            "id": id,
            "type": HEARTBEAT_TYPE,
            "timestamp": timestamp,
            "data": { "connection": connection, "last_sequence": last_sequence },
        }),
        NotificationFormat::FhirSubscription(_) => {
            heartbeat_bundle(&id, connection, last_sequence, &timestamp)
        }
    };
    Notification {
        id,
        connection: connection.to_owned(),
        sequence: last_sequence,
        key: String::new(),
        body: Bytes::from(serde_json::to_vec(&body).expect("a JSON value always serializes")),
    }
}

/// How long until a heartbeat is due, when the connection has been quiet (no delivery, no
/// heartbeat) since `quiet_since`: zero when it is due now.
pub fn until_due(every: Duration, quiet_since: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    let quiet = (now - quiet_since).to_std().unwrap_or_default();
    every.saturating_sub(quiet)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_heartbeat_carries_the_connection_and_its_last_sequence_under_a_fresh_id() {
        let now: DateTime<Utc> = "2026-11-26T10:00:00Z".parse().unwrap();
        let first = heartbeat("clinic-a", 17, now, NotificationFormat::Standard);
        let second = heartbeat("clinic-a", 17, now, NotificationFormat::Standard);
        assert_ne!(first.id, second.id, "a fresh id every time");
        assert!(first.id.starts_with("hb_") && first.id.len() == 35);
        let body: serde_json::Value = serde_json::from_slice(&first.body).unwrap();
        assert_eq!(body["id"], first.id.as_str());
        assert_eq!(body["type"], "courier.heartbeat");
        assert_eq!(body["timestamp"], "2026-11-26T10:00:00.000Z");
        assert_eq!(
            body["data"],
            json!({"connection": "clinic-a", "last_sequence": 17})
        );
    }

    #[test]
    fn a_fhir_subscription_destination_gets_the_backport_heartbeat_bundle() {
        let now: DateTime<Utc> = "2026-11-26T10:00:00Z".parse().unwrap();
        let format = NotificationFormat::FhirSubscription(Default::default());
        let beat = heartbeat("clinic_a", 17, now, format);
        let bundle: serde_json::Value = serde_json::from_slice(&beat.body).unwrap();
        assert_eq!(
            (&bundle["resourceType"], &bundle["type"]),
            (&json!("Bundle"), &json!("history"))
        );
        let entries = bundle["entry"].as_array().unwrap();
        assert_eq!(
            entries.len(),
            1,
            "the status alone: a heartbeat has no event"
        );
        let parameters = entries[0]["resource"]["parameter"].as_array().unwrap();
        let value = |name: &str| {
            let p = parameters.iter().find(|p| p["name"] == name).unwrap();
            p.as_object()
                .unwrap()
                .iter()
                .find(|(k, _)| k.starts_with("value"))
                .unwrap()
                .1
                .clone()
        };
        assert_eq!(value("type"), "heartbeat");
        assert_eq!(value("events-since-subscription-start"), "17");
        assert_eq!(
            value("subscription"),
            json!({"reference": "Subscription/clinic.a"})
        );
        assert!(
            beat.id.starts_with("hb_"),
            "the webhook-id keeps the heartbeat scheme"
        );
    }

    #[test]
    fn a_heartbeat_is_due_once_the_connection_was_quiet_for_the_interval() {
        let now: DateTime<Utc> = "2026-11-26T10:00:00Z".parse().unwrap();
        let every = Duration::from_secs(30);
        let ago = |secs| now - chrono::Duration::seconds(secs);
        assert_eq!(until_due(every, ago(10), now), Duration::from_secs(20));
        assert_eq!(until_due(every, ago(30), now), Duration::ZERO);
        assert_eq!(until_due(every, ago(90), now), Duration::ZERO);
        // A clock step backwards waits a whole interval rather than firing early.
        assert_eq!(
            until_due(every, now + chrono::Duration::seconds(5), now),
            every
        );
    }
}
