//! Structural errors: syntax (the first only), unknown keys, wrong types and missing keys
//! (all of them, with the semantic problems of the other keys, in one run).

use super::{errors, valid_with, VALID};

#[test]
fn unknown_key_is_reported_at_its_line_with_the_keys_expected_there() {
    let text = valid_with("page_size = 500\n", "page_size = 500\npage_limit = 5\n");
    assert_eq!(
        errors(&text),
        "config/courier.toml:15: connections.clinic-a.page_limit: unknown key (expected one of \
         `destination`, `source`, `base_url`, `allow_insecure_http`, `ca_file`, \
         `client_cert_file`, `client_key_file`, `interval_secs`, `connect_timeout_ms`, \
         `request_timeout_ms`, `body_timeout_ms`, `backoff_min_ms`, `backoff_max_secs`, \
         `max_response_bytes`, `changes_path`, `since_param`, `initial_cursor`, \
         `page_size_param`, `page_size`, `items_pointer`, `key_pointer`, `version_pointer`, \
         `cursor_pointer`, `cursor_from`, `lag_secs`, `max_clock_skew_secs`, `event_type`, \
         `max_concurrent_enrichments`, `max_requests_per_sec`, `max_concurrent_requests`, \
         `heartbeat_secs`, `enrich`, `auth`, `initial_since`, `resources`, `initial`, \
         `list_path`, `list_query`, `date_format`, `window_start`, `window_end`, `date_pointer`, \
         `compare`, `next_pointer`, `offset_param`, `total_pointer`, `confirm_path`, \
         `event_prefix`, `recovery`)"
    );
}

#[test]
fn unknown_key_in_an_enrich_step_is_reported_by_its_index() {
    let text = valid_with("optional = true\n", "optional = true\nheaders = 1\n");
    assert_eq!(
        errors(&text),
        "config/courier.toml:28: connections.clinic-a.enrich[1].headers: unknown key \
         (expected one of `name`, `path`, `optional`)"
    );
}

#[test]
fn secret_written_in_the_file_is_refused_with_advice_and_not_echoed() {
    let text = valid_with(
        "secret_env = \"COURIER_APP_SECRET\"\n",
        "secret = \"whsec_c2VjcmV0LXZhbHVlLXRoYXQtbXVzdC1ub3QtbGVhaw==\"\n",
    );
    let rendered = errors(&text);
    assert_eq!(
        rendered,
        "config/courier.toml:6: destinations.app.secret: \
         secrets are read from the environment: use secret_env"
    );
    assert!(!rendered.contains("c2VjcmV0"));
}

#[test]
fn token_written_in_a_connection_is_refused_with_advice() {
    let text = valid_with(
        "source = \"changes\"\n",
        "source = \"changes\"\napi_token = \"t\"\n",
    );
    assert_eq!(
        errors(&text),
        "config/courier.toml:11: connections.clinic-a.api_token: secrets are read from the \
         environment, never from this file (a destination names its variable in secret_env, \
         an EHR connection in its [auth] table)"
    );
}

#[test]
fn missing_required_key_is_reported_at_the_table_that_lacks_it() {
    let text = valid_with("key_pointer = \"/id\"\n", "");
    assert_eq!(
        errors(&text),
        "config/courier.toml:8: connections.clinic-a.key_pointer: missing required key"
    );
}

#[test]
fn missing_store_table_is_reported_without_a_line() {
    let text = valid_with("[store]\npath = \"var/courier\"\n", "");
    assert_eq!(
        errors(&text),
        "config/courier.toml: store: missing required key"
    );
}

#[test]
fn wrong_type_is_reported_in_toml_words_without_echoing_the_value() {
    let text = valid_with("page_size = 500", "page_size = \"five hundred\"");
    assert_eq!(
        errors(&text),
        "config/courier.toml:14: connections.clinic-a.page_size: \
         expected an integer, found a string"
    );
}

#[test]
fn wrong_type_inside_an_array_is_reported_by_its_index() {
    let text = valid_with(
        "secret_env = \"COURIER_APP_SECRET\"\n",
        "secret_env = \"COURIER_APP_SECRET\"\nretry_schedule_secs = [1,\n  \"soon\"]\n",
    );
    assert_eq!(
        errors(&text),
        "config/courier.toml:8: destinations.app.retry_schedule_secs[1]: \
         expected a number, found a string"
    );
}

#[test]
fn table_given_as_a_value_is_reported_as_a_wrong_type() {
    let text = format!(
        "store = \"var\"\n{}",
        &VALID["[store]\npath = \"var/courier\"\n".len()..]
    );
    assert_eq!(
        errors(&text),
        "config/courier.toml:1: store: expected a table, found a string"
    );
}

#[test]
fn syntax_error_is_reported_at_its_line_and_only_that() {
    let text = valid_with("page_size = 500", "page_size 500").replace("source =", "source");
    assert_eq!(
        errors(&text),
        "config/courier.toml:10: invalid TOML: key with no value, expected `=`"
    );
}

/// Found by the `config_parse` fuzz target: toml_edit 0.23, which locates keys by line,
/// panicked ("all items have spans") on this malformed file instead of refusing it.
#[test]
fn a_malformed_file_that_tripped_the_key_locator_is_refused_not_a_panic() {
    let rendered = errors("==e .\n.optio =");
    assert!(
        rendered.starts_with("config/courier.toml:1: invalid TOML: "),
        "{rendered}"
    );
}

#[test]
fn every_wrong_type_unknown_and_missing_key_is_reported_in_one_run_with_the_other_problems() {
    let text = valid_with(
        "[store]\npath = \"var/courier\"\n",
        "[store]\npath = \"var/courier\"\n\n[runtime]\nworkers = 2.5\n",
    )
    .replace(
        "secret_env = \"COURIER_APP_SECRET\"\n",
        "secret_env = \"COURIER_APP_SECRET\"\nmax_in_flight = nan\nfailure_threshold = 0\n",
    )
    .replace("page_size = 500", "page_size = 1e3\ninterval_secs = \"5\"")
    .replace(
        "key_pointer = \"/id\"",
        "key_pointer = \"/id\"\npage_limit = 5",
    )
    .replace("name = \"patient\"\n", "");
    let rendered = errors(&text);
    // The unknown key's list of expected keys is left out here.
    let lines: Vec<&str> = rendered
        .lines()
        .map(|l| l.split(" (expected one of").next().unwrap())
        .collect();
    assert_eq!(
        lines,
        [
            "config/courier.toml:5: runtime.workers: expected an integer, found a float",
            "config/courier.toml:10: destinations.app.max_in_flight: expected an integer, found a float",
            "config/courier.toml:11: destinations.app.failure_threshold: must be greater than 0 (got 0)",
            "config/courier.toml:19: connections.clinic-a.page_size: expected an integer, found a float",
            "config/courier.toml:20: connections.clinic-a.interval_secs: expected a number, found a string",
            "config/courier.toml:22: connections.clinic-a.page_limit: unknown key",
            "config/courier.toml:31: connections.clinic-a.enrich[1].name: missing required key",
        ]
    );
}
