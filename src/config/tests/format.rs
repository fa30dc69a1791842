//! A destination's `format` and `payload`, and which connections may feed a FHIR Subscription
//! destination.

use super::{errors, parse_ok, valid_with, VALID};
use crate::fhir::subscription::Payload;
use crate::model::NotificationFormat;

/// VALID with a second destination `fhir` (fed by no connection) whose table ends with
/// `extra`; its `extra` starts at line 32.
fn with_fhir_destination(extra: &str) -> String {
    format!(
        "{VALID}\n[destinations.fhir]\nurl = \"https://fhir-app.example.org/hooks\"\n\
         secret_env = \"COURIER_APP_SECRET\"\n{extra}\n"
    )
}

#[test]
fn format_defaults_to_standard() {
    let config = parse_ok(VALID);
    assert_eq!(
        config.destinations["app"].format,
        NotificationFormat::Standard
    );
    let config = parse_ok(&valid_with(
        "secret_env = \"COURIER_APP_SECRET\"",
        "secret_env = \"COURIER_APP_SECRET\"\nformat = \"standard\"",
    ));
    assert_eq!(
        config.destinations["app"].format,
        NotificationFormat::Standard
    );
}

#[test]
fn fhir_subscription_defaults_to_full_resource_and_takes_id_only() {
    let config = parse_ok(&with_fhir_destination("format = \"fhir-subscription\""));
    let full = NotificationFormat::FhirSubscription(Payload::FullResource);
    assert_eq!(config.destinations["fhir"].format, full);
    let config = parse_ok(&with_fhir_destination(
        "format = \"fhir-subscription\"\npayload = \"id-only\"",
    ));
    let id_only = NotificationFormat::FhirSubscription(Payload::IdOnly);
    assert_eq!(config.destinations["fhir"].format, id_only);
}

#[test]
fn an_unknown_format_is_refused_with_the_known_ones() {
    assert_eq!(
        errors(&with_fhir_destination("format = \"fhir\"")),
        "config/courier.toml:32: destinations.fhir.format: \
         unknown value \"fhir\" (expected \"standard\" or \"fhir-subscription\")"
    );
}

#[test]
fn an_unknown_payload_is_refused_with_the_known_ones() {
    let text = with_fhir_destination("format = \"fhir-subscription\"\npayload = \"empty\"");
    assert_eq!(
        errors(&text),
        "config/courier.toml:33: destinations.fhir.payload: \
         unknown value \"empty\" (expected \"full-resource\" or \"id-only\")"
    );
}

#[test]
fn payload_without_fhir_subscription_is_refused() {
    for format in ["", "format = \"standard\"\n"] {
        let text = with_fhir_destination(&format!("{format}payload = \"id-only\""));
        let line = if format.is_empty() { 32 } else { 33 };
        assert_eq!(
            errors(&text),
            format!(
                "config/courier.toml:{line}: destinations.fhir.payload: \
                 only applies with format = \"fhir-subscription\""
            )
        );
    }
}

#[test]
fn a_changes_feed_cannot_feed_a_fhir_subscription_destination() {
    let text = valid_with(
        "secret_env = \"COURIER_APP_SECRET\"",
        "secret_env = \"COURIER_APP_SECRET\"\nformat = \"fhir-subscription\"",
    );
    assert_eq!(
        errors(&text),
        "config/courier.toml:10: connections.clinic-a.destination: destination \"app\" has \
         format = \"fhir-subscription\", which needs FHIR resources; source = \"changes\" \
         cannot feed it (use a destination with format = \"standard\")"
    );
}
