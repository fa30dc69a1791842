//! Tests of loading whole configuration files: accepted values, defaults, and the shipped
//! example files.

mod admin;
mod auth;
mod bounds;
mod consume;
mod cursor;
mod event_type;
mod fhir;
mod format;
mod operations;

mod ordering;
mod record_sources;
mod semantic;
mod store;
mod structural;
mod transport;

use std::path::Path;
use std::time::Duration;

use super::{
    load, parse, ChangesSource, Config, ConfigErrors, ConnectionConfig, CursorFrom, Source,
    SourceKind, StoreConfig,
};

/// A valid Standard Webhooks secret (the spec's example key, 24 bytes).
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The file name errors are reported against.
const ORIGIN: &str = "config/courier.toml";

/// A small valid file; tests break one line of it, so its line numbers are part of the tests.
const VALID: &str = r#"[store]
path = "var/courier"

[destinations.app]
url = "https://receiver.example.org/hooks/ehr"
secret_env = "COURIER_APP_SECRET"

[connections.clinic-a]
destination = "app"
source = "changes"
base_url = "https://ehr.example.org/api"
changes_path = "/appointments/changed"
page_size_param = "limit"
page_size = 500
key_pointer = "/id"
version_pointer = "/ts"
cursor_pointer = "/seq"
event_type = "appointment.updated"

[[connections.clinic-a.enrich]]
name = "appointment"
path = "/appointments/{/id}"

[[connections.clinic-a.enrich]]
name = "patient"
path = "/patients/{appointment/patientId}"
optional = true
"#;

/// The environment the tests run in: one secret, for `COURIER_APP_SECRET`.
fn env(name: &str) -> Option<String> {
    (name == "COURIER_APP_SECRET").then(|| SECRET.to_owned())
}

fn parse_ok(text: &str) -> Config {
    parse(text, Path::new(ORIGIN), &env).unwrap_or_else(|e| panic!("refused:\n{e}"))
}

fn parse_err(text: &str) -> ConfigErrors {
    match parse(text, Path::new(ORIGIN), &env) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(errors) => errors,
    }
}

/// The rendered error lines of a refused text.
fn errors(text: &str) -> String {
    parse_err(text).to_string()
}

/// `VALID` with exactly one occurrence of `from` replaced, so a typo in a test cannot
/// silently test the valid file.
fn valid_with(from: &str, to: &str) -> String {
    assert_eq!(VALID.matches(from).count(), 1, "{from:?} must occur once");
    VALID.replace(from, to)
}

#[test]
fn valid_config_loads_with_its_values() {
    let config = parse_ok(VALID);
    assert_eq!(
        config.store,
        StoreConfig::Sled {
            path: Path::new("var/courier").into()
        }
    );
    let app = &config.destinations["app"];
    assert_eq!(app.id, "app");
    assert_eq!(app.url.as_str(), "https://receiver.example.org/hooks/ehr");
    assert_eq!(app.secret_env, "COURIER_APP_SECRET");
    let conn = &config.connections["clinic-a"];
    let feed = conn.source.changes().unwrap();
    assert_eq!(conn.id, "clinic-a");
    assert_eq!(conn.destination, "app");
    assert_eq!(conn.source.kind(), SourceKind::Changes);
    assert_eq!(conn.base_url.as_str(), "https://ehr.example.org/api");
    assert_eq!(feed.changes_path, "/appointments/changed");
    assert_eq!(feed.page_size_param.as_deref(), Some("limit"));
    assert_eq!(feed.page_size, Some(500));
    assert_eq!(feed.key_pointer, "/id");
    assert_eq!(feed.version_pointer.as_deref(), Some("/ts"));
    assert_eq!(feed.cursor_pointer.as_deref(), Some("/seq"));
    assert_eq!(feed.cursor_from, CursorFrom::Items);
    assert_eq!(feed.event_type.as_str(), "appointment.updated");
    let steps: Vec<_> = feed
        .enrich
        .iter()
        .map(|s| (s.name.as_str(), s.path.as_str(), s.optional))
        .collect();
    assert_eq!(
        steps,
        [
            ("appointment", "/appointments/{/id}", false),
            ("patient", "/patients/{appointment/patientId}", true),
        ]
    );
}

#[test]
fn keys_left_out_take_their_documented_defaults() {
    let config = parse_ok(VALID);
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    assert_eq!(config.runtime.workers, cores.min(256));
    assert_eq!(config.runtime.shutdown_grace, Duration::from_secs(10));
    let app = &config.destinations["app"];
    assert_eq!(app.timeout, Duration::from_millis(15_000));
    assert_eq!(app.max_in_flight, 64);
    let schedule: Vec<u64> = app.retry_schedule.iter().map(Duration::as_secs).collect();
    assert_eq!(schedule, [5, 300, 1800, 7200, 18000, 36000, 36000]);
    let conn = &config.connections["clinic-a"];
    let feed = conn.source.changes().unwrap();
    assert_eq!(conn.interval, Duration::from_secs(60));
    assert_eq!(conn.request_timeout, Duration::from_millis(30_000));
    assert_eq!(conn.backoff_min, Duration::from_millis(1000));
    assert_eq!(conn.backoff_max, Duration::from_secs(300));
    assert_eq!(conn.max_response_bytes, 67_108_864);
    assert_eq!(feed.since_param, "since");
    assert_eq!(feed.initial_cursor, "0");
    assert_eq!(feed.items_pointer, "");
    assert_eq!(conn.max_concurrent_enrichments, 32);
}

#[test]
fn fractional_seconds_and_integer_cursors_are_accepted() {
    let text = valid_with(
        "secret_env = \"COURIER_APP_SECRET\"\n",
        "secret_env = \"COURIER_APP_SECRET\"\nretry_schedule_secs = [0.05, 1]\n",
    )
    .replace(
        "event_type = \"appointment.updated\"\n",
        "event_type = \"appointment.updated\"\ninterval_secs = 0.5\ninitial_cursor = 17\n",
    );
    let config = parse_ok(&text);
    let schedule = &config.destinations["app"].retry_schedule;
    assert_eq!(
        schedule,
        &[Duration::from_millis(50), Duration::from_secs(1)]
    );
    let conn = &config.connections["clinic-a"];
    let feed = conn.source.changes().unwrap();
    assert_eq!(conn.interval, Duration::from_millis(500));
    assert_eq!(feed.initial_cursor, "17");
}

#[test]
fn example_file_parses_with_the_values_it_documents() {
    let text = include_str!("../../../config/example.toml");
    let config = parse_ok(text);
    let app = &config.destinations["app"];
    assert_eq!(app.url.as_str(), "https://receiver.example.org/hooks/ehr");
    assert_eq!(app.secret_env, "COURIER_APP_SECRET");
    let conn = &config.connections["clinic-a"];
    let feed = conn.source.changes().unwrap();
    assert_eq!(feed.changes_path, "/appointments/changed");
    assert_eq!(feed.page_size_param.as_deref(), Some("limit"));
    assert_eq!(feed.page_size, Some(500));
    assert_eq!(feed.version_pointer.as_deref(), Some("/ts"));
    let paths: Vec<_> = feed.enrich.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(paths, ["/appointments/{/id}", "/patients/{/patientId}"]);
}

#[test]
fn demo_file_parses_once_its_placeholders_are_filled() {
    let text = include_str!("../../../config/demo.toml")
        .replace("{demo_ehr}", "http://127.0.0.1:40123/api")
        .replace("{demo_receiver}", "http://127.0.0.1:40124/hooks");
    let demo_env = |name: &str| (name == "COURIER_DEMO_SECRET").then(|| SECRET.to_owned());
    let config = parse(&text, Path::new("config/demo.toml"), &demo_env)
        .unwrap_or_else(|e| panic!("refused:\n{e}"));
    let app = &config.destinations["app"];
    assert_eq!(app.url.as_str(), "http://127.0.0.1:40124/hooks");
    assert_eq!(app.retry_schedule[0], Duration::from_millis(200));
    assert_eq!(app.retry_schedule.len(), 5);
    let conn = &config.connections["clinic-a"];
    let feed = conn.source.changes().unwrap();
    assert_eq!(conn.base_url.as_str(), "http://127.0.0.1:40123/api");
    assert_eq!(conn.interval, Duration::from_secs(1));
    assert_eq!(feed.page_size, Some(100));
    assert_eq!(conn.backoff_min, Duration::from_millis(200));
    assert_eq!(conn.backoff_max, Duration::from_secs(5));
    assert_eq!(feed.version_pointer.as_deref(), Some("/seq"));
    assert_eq!(feed.enrich.len(), 2);
    assert_eq!(feed.event_type.as_str(), "appointment.{/action}");
}

#[test]
fn demo_files_of_the_record_sources_parse_once_their_placeholders_are_filled() {
    let files = [
        (
            include_str!("../../../config/demo-snapshot.toml"),
            "clinic-s",
            "snapshot",
        ),
        (
            include_str!("../../../config/demo-consume-once.toml"),
            "clinic-o",
            "consume-once",
        ),
    ];
    for (template, id, kind) in files {
        let text = template
            .replace("{demo_ehr}", "http://127.0.0.1:40123/api")
            .replace("{demo_receiver}", "http://127.0.0.1:40124/hooks");
        let demo_env = |name: &str| (name == "COURIER_DEMO_SECRET").then(|| SECRET.to_owned());
        let config = parse(&text, Path::new("config/demo.toml"), &demo_env)
            .unwrap_or_else(|e| panic!("{kind} refused:\n{e}"));
        let conn = &config.connections[id];
        assert_eq!(conn.base_url.as_str(), "http://127.0.0.1:40123/api");
        assert_eq!(conn.interval, Duration::from_secs(1), "{kind}");
        let parsed = match &conn.source {
            crate::config::Source::Snapshot(_) => "snapshot",
            crate::config::Source::ConsumeOnce(_) => "consume-once",
            _ => "another source",
        };
        assert_eq!(parsed, kind);
    }
}

/// The constructors that tests and fuzz targets use must build what a file with only the
/// required keys loads as, or code tested with them would run with settings no file gives.
#[test]
fn a_connection_built_in_code_has_the_defaults_a_file_gets() {
    let required_only = VALID
        .replace("page_size_param = \"limit\"\npage_size = 500\n", "")
        .replace("version_pointer = \"/ts\"\n", "");
    let required_only = &required_only[..required_only.find("[[connections").unwrap()];
    let config = parse_ok(required_only);
    let loaded = &config.connections["clinic-a"];
    let feed = ChangesSource::new(
        "/appointments/changed",
        "/id",
        "/seq",
        "appointment.updated",
    );
    let url = "https://ehr.example.org/api".parse().unwrap();
    let built = ConnectionConfig::new("clinic-a", "app", url, Source::Changes(Box::new(feed)));
    assert_eq!(format!("{built:?}"), format!("{loaded:?}"));
}

#[test]
fn load_reads_the_file_it_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("courier.toml");
    std::fs::write(&path, VALID).unwrap();
    let config = load(&path, &env).unwrap_or_else(|e| panic!("refused:\n{e}"));
    assert!(config.connections.contains_key("clinic-a"));
}

#[test]
fn unreadable_file_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.toml");
    let errors = load(&path, &env).unwrap_err();
    let rendered = errors.to_string();
    let expected = format!("{}: cannot read the file: ", path.display());
    assert!(rendered.starts_with(&expected), "{rendered}");
    assert_eq!(errors.len(), 1);
}
