//! Numeric bounds: values that would overflow, panic or stall at runtime are refused at load,
//! each with the bound it broke; values at a bound are accepted.

use std::time::Duration;

use super::{errors, parse_ok, valid_with};

/// Every destination key after `secret_env`, inserted at line 7 of `VALID`.
const DESTINATION_END: &str = "secret_env = \"COURIER_APP_SECRET\"\n";
/// The connection's last key, line 18 of `VALID`; inserted keys follow it.
const CONNECTION_END: &str = "event_type = \"appointment.updated\"\n";

/// `VALID` with `destination` lines after `secret_env`, `connection` lines after
/// `event_type`, and a `[runtime]` table holding `runtime` appended at the end, so the lines
/// of the original keys only move by the lines inserted above them.
fn valid_with_keys(destination: &str, connection: &str, runtime: &str) -> String {
    let text = valid_with(DESTINATION_END, &format!("{DESTINATION_END}{destination}"))
        .replace(CONNECTION_END, &format!("{CONNECTION_END}{connection}"));
    if runtime.is_empty() {
        text
    } else {
        format!("{text}\n[runtime]\n{runtime}")
    }
}

/// A retry schedule of `len` delays of `secs` each, as TOML.
fn schedule(len: usize, secs: &str) -> String {
    format!("retry_schedule_secs = [{}]\n", vec![secs; len].join(", "))
}

#[test]
fn values_at_their_bounds_are_accepted() {
    let destination = format!(
        "timeout_ms = 3600000\nmax_in_flight = 100000\n{}",
        schedule(100, "604800")
    );
    let connection = "interval_secs = 86400\nrequest_timeout_ms = 3600000\n\
                      backoff_min_ms = 3600000\nbackoff_max_secs = 86400\n\
                      max_response_bytes = 1073741824\nmax_concurrent_enrichments = 10000\n";
    let text = valid_with_keys(
        &destination,
        connection,
        "workers = 256\nshutdown_grace_secs = 3600\n",
    )
    .replace("page_size = 500", "page_size = 100000");
    let config = parse_ok(&text);
    let hour = Duration::from_secs(3600);
    let day = Duration::from_secs(86_400);
    assert_eq!(config.runtime.workers, 256);
    assert_eq!(config.runtime.shutdown_grace, hour);
    let app = &config.destinations["app"];
    assert_eq!(app.timeout, hour);
    assert_eq!(app.max_in_flight, 100_000);
    assert_eq!(app.retry_schedule, vec![Duration::from_secs(604_800); 100]);
    let conn = &config.connections["clinic-a"];
    assert_eq!(conn.interval, day);
    assert_eq!(conn.request_timeout, hour);
    assert_eq!(conn.backoff_min, hour);
    assert_eq!(conn.backoff_max, day);
    assert_eq!(conn.max_response_bytes, 1 << 30);
    assert_eq!(conn.source.page_size(), Some(100_000));
    assert_eq!(conn.max_concurrent_enrichments, 10_000);
}

#[test]
fn counts_above_their_bounds_are_refused() {
    let text = valid_with_keys(
        "max_in_flight = 100001\n",
        "max_concurrent_enrichments = 10001\n",
        "workers = 257\n",
    )
    .replace("page_size = 500", "page_size = 100001");
    let expected = [
        "config/courier.toml:7: destinations.app.max_in_flight: must be at most 100000 (got 100001)",
        "config/courier.toml:15: connections.clinic-a.page_size: must be at most 100000 (got 100001)",
        "config/courier.toml:20: connections.clinic-a.max_concurrent_enrichments: must be at most 10000 (got 10001)",
        "config/courier.toml:32: runtime.workers: must be at most 256 (got 257)",
    ];
    assert_eq!(errors(&text), expected.join("\n"));
}

#[test]
fn durations_above_their_bounds_are_refused_with_the_bound_in_words() {
    let text = valid_with_keys(
        "timeout_ms = 3600001\nretry_schedule_secs = [5, 604801]\n",
        "interval_secs = 86401\nrequest_timeout_ms = 3600001\n\
         backoff_min_ms = 3600001\nbackoff_max_secs = 86400.5\n",
        "shutdown_grace_secs = 3601\n",
    );
    let expected = [
        "config/courier.toml:7: destinations.app.timeout_ms: must be at most 3600000 ms, 1 hour (got 3600001)",
        "config/courier.toml:8: destinations.app.retry_schedule_secs[1]: must be at most 604800 seconds, 7 days (got 604801)",
        "config/courier.toml:21: connections.clinic-a.interval_secs: must be at most 86400 seconds, 1 day (got 86401)",
        "config/courier.toml:22: connections.clinic-a.request_timeout_ms: must be at most 3600000 ms, 1 hour (got 3600001)",
        "config/courier.toml:23: connections.clinic-a.backoff_min_ms: must be at most 3600000 ms, 1 hour (got 3600001)",
        "config/courier.toml:24: connections.clinic-a.backoff_max_secs: must be at most 86400 seconds, 1 day (got 86400.5)",
        "config/courier.toml:36: runtime.shutdown_grace_secs: must be at most 3600 seconds, 1 hour (got 3601)",
    ];
    assert_eq!(errors(&text), expected.join("\n"));
}

#[test]
fn values_that_would_overflow_a_duration_are_refused_readably() {
    let text = valid_with_keys(
        "timeout_ms = 9223372036854775807\n",
        "interval_secs = 1e300\n",
        "",
    );
    let expected = [
        "config/courier.toml:7: destinations.app.timeout_ms: must be at most 3600000 ms, 1 hour (got 9223372036854775807)",
        "config/courier.toml:20: connections.clinic-a.interval_secs: must be at most 86400 seconds, 1 day (got 1e300)",
    ];
    assert_eq!(errors(&text), expected.join("\n"));
}

#[test]
fn retry_schedule_longer_than_100_delays_is_refused() {
    let text = valid_with_keys(&schedule(101, "5"), "", "");
    assert_eq!(
        errors(&text),
        "config/courier.toml:7: destinations.app.retry_schedule_secs: \
         must list at most 100 retry delays (got 101)"
    );
}

#[test]
fn response_limit_must_be_between_1_kib_and_1_gib() {
    let at_least = valid_with_keys("", "max_response_bytes = 1024\n", "");
    assert_eq!(
        parse_ok(&at_least).connections["clinic-a"].max_response_bytes,
        1024
    );
    let below = valid_with_keys("", "max_response_bytes = 1023\n", "");
    assert_eq!(
        errors(&below),
        "config/courier.toml:19: connections.clinic-a.max_response_bytes: \
         must be at least 1024 bytes (got 1023)"
    );
    let above = valid_with_keys("", "max_response_bytes = 1073741825\n", "");
    assert_eq!(
        errors(&above),
        "config/courier.toml:19: connections.clinic-a.max_response_bytes: \
         must be at most 1073741824 bytes, 1 GiB (got 1073741825)"
    );
}

#[test]
fn nan_and_infinite_seconds_are_refused_wherever_seconds_are_accepted() {
    let text = valid_with_keys(
        "retry_schedule_secs = [1, -inf]\n",
        "interval_secs = nan\nbackoff_max_secs = inf\n",
        "shutdown_grace_secs = +nan\n",
    );
    // backoff_max_secs is reported once: an invalid bound is not also compared with
    // backoff_min_ms.
    let expected = [
        "config/courier.toml:7: destinations.app.retry_schedule_secs[1]: must be a finite number (got -inf)",
        "config/courier.toml:20: connections.clinic-a.interval_secs: must be a finite number (got nan)",
        "config/courier.toml:21: connections.clinic-a.backoff_max_secs: must be a finite number (got inf)",
        "config/courier.toml:33: runtime.shutdown_grace_secs: must be a finite number (got nan)",
    ];
    assert_eq!(errors(&text), expected.join("\n"));
}

#[test]
fn backoff_max_shorter_than_backoff_min_is_refused() {
    let text = valid_with_keys("", "backoff_min_ms = 5000\nbackoff_max_secs = 2\n", "");
    assert_eq!(
        errors(&text),
        "config/courier.toml:20: connections.clinic-a.backoff_max_secs: \
         must not be shorter than backoff_min_ms (5000 ms)"
    );
}

/// Issue 12: `interval_secs = 1e-9` and `heartbeat_secs = 1e-6` were accepted (120 polls a
/// second).
#[test]
fn timers_shorter_than_their_lower_bound_are_refused() {
    let text = valid_with_keys("", "interval_secs = 1e-9\nheartbeat_secs = 1e-6\n", "");
    let expected = [
        "config/courier.toml:19: connections.clinic-a.interval_secs: must be at least 0.05 seconds (got 0.000000001)",
        "config/courier.toml:20: connections.clinic-a.heartbeat_secs: must be at least 0.1 seconds (got 0.000001)",
    ];
    assert_eq!(errors(&text), expected.join("\n"));
    let at_least = valid_with_keys("", "interval_secs = 0.05\nheartbeat_secs = 0.1\n", "");
    let config = parse_ok(&at_least);
    let conn = &config.connections["clinic-a"];
    assert_eq!(conn.interval, Duration::from_millis(50));
    assert_eq!(conn.heartbeat, Some(Duration::from_millis(100)));
}
