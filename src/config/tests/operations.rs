//! The keys of dead letters, replay and heartbeats: `retain_hours` on a destination and
//! `heartbeat_secs` on a connection.

use std::time::Duration;

use super::{errors, parse_ok, valid_with, VALID};

/// `VALID` with `destination` after `secret_env` (line 6) and `connection` after
/// `event_type` (line 18, plus the destination lines).
fn with_keys(destination: &str, connection: &str) -> String {
    let secret = "secret_env = \"COURIER_APP_SECRET\"\n";
    let event = "event_type = \"appointment.updated\"\n";
    valid_with(secret, &format!("{secret}{destination}"))
        .replace(event, &format!("{event}{connection}"))
}

#[test]
fn a_destination_keeps_three_days_and_a_connection_sends_no_heartbeat_by_default() {
    let config = parse_ok(VALID);
    assert_eq!(
        config.destinations["app"].retain,
        Duration::from_secs(72 * 3600)
    );
    assert_eq!(config.connections["clinic-a"].heartbeat, None);
}

#[test]
fn retention_and_heartbeat_take_fractions_and_zero_retention_keeps_none() {
    let config = parse_ok(&with_keys("retain_hours = 0.5\n", "heartbeat_secs = 2.5\n"));
    assert_eq!(config.destinations["app"].retain, Duration::from_secs(1800));
    let heartbeat = config.connections["clinic-a"].heartbeat;
    assert_eq!(heartbeat, Some(Duration::from_millis(2500)));
    let config = parse_ok(&with_keys("retain_hours = 0\n", "heartbeat_secs = 86400\n"));
    assert_eq!(config.destinations["app"].retain, Duration::ZERO);
    let config = parse_ok(&with_keys("retain_hours = 8760\n", ""));
    assert_eq!(
        config.destinations["app"].retain,
        Duration::from_secs(8760 * 3600)
    );
}

#[test]
fn retention_and_heartbeat_out_of_bounds_are_refused_at_their_lines() {
    let text = with_keys("retain_hours = 9000\n", "heartbeat_secs = 0\n");
    assert_eq!(
        errors(&text),
        "config/courier.toml:7: destinations.app.retain_hours: must be at most 8760 hours, \
         1 year (got 9000)\n\
         config/courier.toml:20: connections.clinic-a.heartbeat_secs: must be at least 0.1 \
         seconds (got 0)"
    );
    let text = with_keys("retain_hours = -1\n", "heartbeat_secs = 86401\n");
    assert_eq!(
        errors(&text),
        "config/courier.toml:7: destinations.app.retain_hours: must be 0 or more hours \
         (got -1)\n\
         config/courier.toml:20: connections.clinic-a.heartbeat_secs: must be at most 86400 \
         seconds, 1 day (got 86401)"
    );
}
