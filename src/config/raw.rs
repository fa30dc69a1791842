//! The configuration file exactly as written: serde shapes that only check structure.
//!
//! Optional keys are `Option`s here and get their defaults in `validate`, so that every
//! default lives in one place next to the check of the value that replaces it. Every table
//! denies unknown keys, so a misspelt key is an error instead of a silently ignored setting.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub store: RawStore,
    #[serde(default)]
    pub cluster: RawCluster,
    #[serde(default)]
    pub runtime: RawRuntime,
    #[serde(default)]
    pub admin: RawAdmin,
    #[serde(default)]
    pub destinations: BTreeMap<String, RawDestination>,
    #[serde(default)]
    pub connections: BTreeMap<String, RawConnection>,
}

/// `[store]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStore {
    pub backend: Option<String>,
    pub path: Option<String>,
    pub url_env: Option<String>,
    pub pool_size: Option<i64>,
    pub schema: Option<String>,
    pub ca_file: Option<String>,
}

/// `[cluster]`; the whole table may be left out.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCluster {
    pub lease_secs: Option<i64>,
}

/// `[runtime]`; the whole table may be left out.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRuntime {
    pub workers: Option<i64>,
    pub shutdown_grace_secs: Option<f64>,
}

/// `[admin]`; the whole table may be left out.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAdmin {
    pub enabled: Option<bool>,
    pub listen: Option<String>,
    pub token_env: Option<String>,
}

/// `[destinations.<id>]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDestination {
    pub url: String,
    pub allow_insecure_http: Option<bool>,
    pub ca_file: Option<String>,
    pub client_cert_file: Option<String>,
    pub client_key_file: Option<String>,
    pub secret_env: String,
    pub timeout_ms: Option<i64>,
    pub connect_timeout_ms: Option<i64>,
    pub max_in_flight: Option<i64>,
    pub retry_schedule_secs: Option<Vec<f64>>,
    pub headers_env: Option<BTreeMap<String, String>>,
    pub ordering: Option<String>,
    pub ordering_key: Option<String>,
    pub failure_threshold: Option<i64>,
    pub retain_hours: Option<f64>,
    pub format: Option<String>,
    pub payload: Option<String>,
}

/// `[connections.<id>]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConnection {
    pub destination: String,
    pub source: String,
    pub base_url: String,
    pub allow_insecure_http: Option<bool>,
    pub ca_file: Option<String>,
    pub client_cert_file: Option<String>,
    pub client_key_file: Option<String>,
    pub interval_secs: Option<f64>,
    pub connect_timeout_ms: Option<i64>,
    pub request_timeout_ms: Option<i64>,
    pub body_timeout_ms: Option<i64>,
    pub backoff_min_ms: Option<i64>,
    pub backoff_max_secs: Option<f64>,
    pub max_response_bytes: Option<i64>,
    pub changes_path: Option<String>,
    pub since_param: Option<String>,
    #[serde(default, deserialize_with = "text_or_integer")]
    pub initial_cursor: Option<String>,
    pub page_size_param: Option<String>,
    pub page_size: Option<i64>,
    pub items_pointer: Option<String>,
    pub key_pointer: Option<String>,
    pub version_pointer: Option<String>,
    pub cursor_pointer: Option<String>,
    pub cursor_from: Option<String>,
    pub lag_secs: Option<f64>,
    pub max_clock_skew_secs: Option<f64>,
    pub event_type: Option<String>,
    pub max_concurrent_enrichments: Option<i64>,
    pub max_requests_per_sec: Option<f64>,
    pub max_concurrent_requests: Option<i64>,
    pub heartbeat_secs: Option<f64>,
    #[serde(default)]
    pub enrich: Vec<RawEnrich>,
    pub auth: Option<RawAuth>,
    pub initial_since: Option<String>,
    #[serde(default)]
    pub resources: Vec<RawFhirResource>,
    /// `baseline` or `notify`: what a source's first look notifies.
    pub initial: Option<String>,
    pub list_path: Option<String>,
    pub list_query: Option<String>,
    pub date_format: Option<String>,
    pub window_start: Option<String>,
    pub window_end: Option<String>,
    pub date_pointer: Option<String>,
    pub compare: Option<Vec<String>>,
    pub next_pointer: Option<String>,
    pub offset_param: Option<String>,
    pub total_pointer: Option<String>,
    pub confirm_path: Option<String>,
    pub event_prefix: Option<String>,
    pub recovery: Option<RawRecovery>,
}

/// `[connections.<id>.recovery]`: a consume-once feed's re-read window.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRecovery {
    pub start_param: String,
    pub end_param: String,
    pub time_format: Option<String>,
    pub margin_secs: Option<f64>,
    pub params: Option<String>,
    pub offset_param: Option<String>,
}

/// `[[connections.<id>.resources]]`: one FHIR resource type polled by a `source = "fhir"`
/// connection.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFhirResource {
    #[serde(rename = "type")]
    pub kind: String,
    pub params: Option<String>,
    #[serde(default)]
    pub enrich: Vec<String>,
    #[serde(default)]
    pub deletes: bool,
    /// `last-updated` (the default) or `snapshot`.
    pub mode: Option<String>,
    pub window_start: Option<String>,
    pub window_end: Option<String>,
    pub date_pointer: Option<String>,
    pub initial: Option<String>,
}

/// `[connections.<id>.auth]`: one flat table whose `type` decides which keys apply, so that
/// a misplaced key is reported by name ("does not apply to type = ...") instead of as an
/// unknown field of an enum variant.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAuth {
    #[serde(rename = "type")]
    pub kind: String,
    pub token_env: Option<String>,
    pub username: Option<String>,
    pub password_env: Option<String>,
    pub token_url: Option<String>,
    pub client_id: Option<String>,
    pub client_secret_env: Option<String>,
    pub scope: Option<String>,
    pub client_auth: Option<String>,
    pub private_key_file: Option<String>,
    pub algorithm: Option<String>,
    pub kid: Option<String>,
    pub jku: Option<String>,
}

/// `[[connections.<id>.enrich]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEnrich {
    pub name: String,
    pub path: String,
    #[serde(default)]
    pub optional: bool,
}

/// Accepts `initial_cursor = 0` as well as `"0"`: a sequence number is the natural way to
/// write a cursor, and refusing it would only teach people to add quotes.
fn text_or_integer<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    struct TextOrInteger;

    impl Visitor<'_> for TextOrInteger {
        type Value = Option<String>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string or an integer")
        }

        fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
            Ok(Some(value.to_owned()))
        }

        fn visit_i64<E: de::Error>(self, value: i64) -> Result<Self::Value, E> {
            Ok(Some(value.to_string()))
        }

        fn visit_u64<E: de::Error>(self, value: u64) -> Result<Self::Value, E> {
            Ok(Some(value.to_string()))
        }
    }

    deserializer.deserialize_any(TextOrInteger)
}
