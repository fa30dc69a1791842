//! A destination's `format` and `payload`, and the check that every connection feeding a
//! `fhir-subscription` destination produces FHIR resources.

use std::collections::BTreeMap;

use super::locate::KeyPath;
use super::validate::Checker;
use super::{ConnectionConfig, DestinationConfig, SourceKind};
use crate::fhir::subscription::Payload;
use crate::model::NotificationFormat;

/// Checks `format` and `payload` of the destination at `path`; `None` once reported.
pub(super) fn format(
    check: &mut Checker<'_>,
    path: &KeyPath,
    format: Option<&str>,
    payload: Option<&str>,
) -> Option<NotificationFormat> {
    match format.unwrap_or("standard") {
        "standard" => {
            if payload.is_some() {
                let message = "only applies with format = \"fhir-subscription\"";
                check.report(&path.key("payload"), message);
                return None;
            }
            Some(NotificationFormat::Standard)
        }
        "fhir-subscription" => {
            let payload = match payload.unwrap_or("full-resource") {
                "full-resource" => Payload::FullResource,
                "id-only" => Payload::IdOnly,
                other => {
                    let message = format!(
                        "unknown value \"{other}\" (expected \"full-resource\" or \"id-only\")"
                    );
                    check.report(&path.key("payload"), message);
                    return None;
                }
            };
            Some(NotificationFormat::FhirSubscription(payload))
        }
        other => {
            let message = format!(
                "unknown value \"{other}\" (expected \"standard\" or \"fhir-subscription\")"
            );
            check.report(&path.key("format"), message);
            None
        }
    }
}

/// A FHIR Subscription notification is built around a FHIR focus resource, which only a FHIR
/// source provides: a changes-feed connection cannot feed such a destination.
pub(super) fn check_pairings(
    check: &mut Checker<'_>,
    connections: &BTreeMap<String, ConnectionConfig>,
    destinations: &BTreeMap<String, DestinationConfig>,
) {
    for connection in connections.values() {
        let Some(destination) = destinations.get(&connection.destination) else {
            continue;
        };
        let fhir_subscription =
            matches!(destination.format, NotificationFormat::FhirSubscription(_));
        if fhir_subscription && connection.source.kind() == SourceKind::Changes {
            let message = format!(
                "destination \"{}\" has format = \"fhir-subscription\", which needs FHIR \
                 resources; source = \"changes\" cannot feed it (use a destination with \
                 format = \"standard\")",
                destination.id
            );
            let path = KeyPath::root()
                .key("connections")
                .key(&connection.id)
                .key("destination");
            check.report(&path, message);
        }
    }
}
