//! A destination's delivery behaviour: `ordering`, `ordering_key`, `failure_threshold`.

use super::{errors, parse_ok, valid_with, VALID};
use crate::config::DeliveryOrder;

const SECRET_LINE: &str = "secret_env = \"COURIER_APP_SECRET\"";

fn with_destination_keys(keys: &str) -> String {
    valid_with(SECRET_LINE, &format!("{SECRET_LINE}\n{keys}"))
}

#[test]
fn ordering_is_per_record_key_and_failing_after_five_failures_by_default() {
    let app = &parse_ok(VALID).destinations["app"];
    assert_eq!(app.order, DeliveryOrder::PerKey { key_pointer: None });
    assert!(app.per_key());
    assert_eq!(app.failure_threshold, 5);
}

#[test]
fn an_ordering_key_pointer_and_a_threshold_are_taken() {
    let text = with_destination_keys(
        "ordering = \"per_key\"\nordering_key = \"/patientId\"\nfailure_threshold = 20",
    );
    let app = &parse_ok(&text).destinations["app"];
    let pointer = Some("/patientId".to_owned());
    assert_eq!(
        app.order,
        DeliveryOrder::PerKey {
            key_pointer: pointer
        }
    );
    assert_eq!(app.failure_threshold, 20);
    let text = with_destination_keys("ordering = \"none\"");
    let app = &parse_ok(&text).destinations["app"];
    assert_eq!(app.order, DeliveryOrder::None);
    assert!(!app.per_key());
}

#[test]
fn wrong_ordering_values_are_reported_at_their_keys() {
    let text = with_destination_keys(
        "ordering = \"fifo\"\nordering_key = \"patientId\"\nfailure_threshold = 0",
    );
    assert_eq!(
        errors(&text),
        "config/courier.toml:7: destinations.app.ordering: \
         must be \"per_key\" or \"none\" (got \"fifo\")\n\
         config/courier.toml:8: destinations.app.ordering_key: \
         not a JSON pointer: must be \"\" or start with \"/\" (such as \"/id\")\n\
         config/courier.toml:9: destinations.app.failure_threshold: must be greater than 0 (got 0)"
    );
}

#[test]
fn an_ordering_key_without_per_key_ordering_is_refused() {
    let text = with_destination_keys("ordering = \"none\"\nordering_key = \"/patientId\"");
    assert_eq!(
        errors(&text),
        "config/courier.toml:8: destinations.app.ordering_key: \
         only applies with ordering = \"per_key\""
    );
}
