//! Semantic checks of one `[connections.<id>]` table and its enrichment steps.

use std::collections::BTreeSet;
use std::time::Duration;

use super::bounds::Max;
use super::fhir::Flavour;
use super::locate::KeyPath;
use super::raw::{RawConnection, RawEnrich};
use super::requests::request_limits;
use super::tls::TlsKeys;
use super::validate::{pointer_problem, Checker};
use super::{ConnectionConfig, EnrichStep, Source, SourceKind};
use crate::template::{Placeholder, Template};
use crate::tls::ClientTls;

/// Seconds between polls, unless configured.
const DEFAULT_INTERVAL_SECS: f64 = 60.0;
/// Timeout of one EHR request, unless configured.
const DEFAULT_REQUEST_TIMEOUT_MS: i64 = 30_000;
/// First delay after an EHR failure, unless configured.
const DEFAULT_BACKOFF_MIN_MS: i64 = 1_000;
/// Longest delay after EHR failures, unless configured.
const DEFAULT_BACKOFF_MAX_SECS: f64 = 300.0;
/// Largest EHR response body (64 MiB), unless configured.
const DEFAULT_MAX_RESPONSE_BYTES: i64 = 64 * 1024 * 1024;
/// A heartbeat less often than daily tells a receiver nothing a day of silence would not.
const HEARTBEAT_SECS_AT_MOST: Max = Max::secs(86_400, "1 day");
/// Heartbeats more often than ten a second would flood a receiver with nothing to say.
const HEARTBEAT_SECS_AT_LEAST: f64 = 0.1;
/// Polling more often than 20 times a second is a busy loop against the EHR: a poll is a
/// request and, when it finds changes, a flushed commit, each taking milliseconds.
const INTERVAL_SECS_AT_LEAST: f64 = 0.05;
/// Containers enriched at once per connection, unless configured.
const DEFAULT_MAX_CONCURRENT_ENRICHMENTS: i64 = 32;

// Upper bounds (see `bounds` for why there are any).

/// Polling less often than daily is not watching for changes.
const INTERVAL_SECS_AT_MOST: Max = Max::secs(86_400, "1 day");
/// An EHR request still unanswered after an hour will not be answered.
const REQUEST_TIMEOUT_MS_AT_MOST: Max = Max::millis(3_600_000, "1 hour");
/// Waiting over an hour before even the first retry is an outage, not a backoff.
const BACKOFF_MIN_MS_AT_MOST: Max = Max::millis(3_600_000, "1 hour");
/// Backing off longer than the longest poll interval would hide a recovered EHR.
const BACKOFF_MAX_SECS_AT_MOST: Max = Max::secs(86_400, "1 day");
/// Smaller bodies could not even hold an error response.
const MAX_RESPONSE_BYTES_AT_LEAST: u32 = 1024;
/// Response bodies are buffered whole in memory.
const MAX_RESPONSE_BYTES_AT_MOST: Max = Max::bytes(1 << 30, "1 GiB");
/// Each enrichment holds open EHR requests; the EHR client's pool is sized from this.
const MAX_CONCURRENT_ENRICHMENTS_AT_MOST: u32 = 10_000;

/// The source kinds this build can poll, for the "unsupported source" message.
const SUPPORTED_SOURCES: &str = "changes, fhir, snapshot, consume-once";

/// Timing, size and concurrency limits of one connection.
struct Limits {
    interval: Duration,
    request_timeout: Duration,
    backoff_min: Duration,
    backoff_max: Duration,
    max_response_bytes: usize,
    max_concurrent_enrichments: usize,
}

/// Checks one connection; `destination_ids` are the destinations written in the file, so a
/// destination that is itself invalid does not also make its connections "unknown".
pub(super) fn connection(
    check: &mut Checker<'_>,
    path: &KeyPath,
    id: String,
    mut raw: RawConnection,
    destination_ids: &BTreeSet<String>,
) -> Option<ConnectionConfig> {
    check.id(path, &id);
    destination(
        check,
        &path.key("destination"),
        &raw.destination,
        destination_ids,
    );
    let source = source(check, &path.key("source"), &raw.source);
    let base_url = base_url(check, &path.key("base_url"), &raw);
    let tls = check.client_tls(
        path,
        TlsKeys {
            ca_file: raw.ca_file.as_deref(),
            client_cert_file: raw.client_cert_file.as_deref(),
            client_key_file: raw.client_key_file.as_deref(),
        },
    );
    let limits = limits(check, path, &raw);
    let request_timeout = limits.as_ref().map(|l| l.request_timeout);
    let requests = request_limits(check, path, &raw, request_timeout);
    let flavour = super::fhir::flavour(check, path, source, &raw);
    let auth = match &raw.auth {
        Some(auth) => {
            let allow_http = raw.allow_insecure_http.unwrap_or(false);
            super::auth::auth(check, &path.key("auth"), auth, allow_http).map(Some)
        }
        None => Some(None),
    };
    let enrich = enrich_steps(check, &path.key("enrich"), std::mem::take(&mut raw.enrich));
    let heartbeat = heartbeat(check, path, raw.heartbeat_secs);
    let max_clock_skew = match source {
        Some(SourceKind::Changes) => {
            super::cursor::max_clock_skew(check, path, raw.max_clock_skew_secs)
        }
        // A FHIR source has no such key; the value is dropped with the other feed keys.
        _ => Some(super::cursor::DEFAULT_MAX_CLOCK_SKEW),
    };
    let (limits, requests, flavour) = (limits?, requests?, flavour?);
    let (enrich, max_clock_skew) = (enrich?, max_clock_skew?);
    let source = match flavour {
        Flavour::Fhir(fhir) => Source::Fhir(fhir),
        Flavour::Changes(checked) => {
            Source::Changes(Box::new(checked.source(&mut raw, enrich, max_clock_skew)))
        }
        Flavour::Snapshot(checked) => Source::Snapshot(Box::new(checked.source(enrich))),
        Flavour::ConsumeOnce(checked) => Source::ConsumeOnce(Box::new(checked.source(enrich))),
    };
    Some(ConnectionConfig {
        id,
        destination: raw.destination,
        base_url: base_url?,
        interval: limits.interval,
        connect_timeout: requests.connect_timeout,
        request_timeout: limits.request_timeout,
        body_timeout: requests.body_timeout,
        backoff_min: limits.backoff_min,
        backoff_max: limits.backoff_max,
        max_response_bytes: limits.max_response_bytes,
        max_concurrent_enrichments: limits.max_concurrent_enrichments,
        auth: auth?,
        max_requests_per_sec: requests.max_requests_per_sec,
        max_concurrent_requests: requests.max_concurrent_requests,
        tls: tls?,
        heartbeat: heartbeat?,
        source,
    })
}

impl ConnectionConfig {
    /// A connection `id` polling `source` at `base_url` for `destination`, every other key at
    /// the default a configuration file gets when it leaves the key out. For code that builds
    /// a connection without a file (tests, fuzz targets); a file's connection is checked.
    pub fn new(id: &str, destination: &str, base_url: url::Url, source: Source) -> Self {
        let millis = |ms: i64| Duration::from_millis(ms.unsigned_abs());
        Self {
            id: id.to_owned(),
            destination: destination.to_owned(),
            base_url,
            interval: Duration::from_secs_f64(DEFAULT_INTERVAL_SECS),
            connect_timeout: millis(super::requests::DEFAULT_CONNECT_TIMEOUT_MS),
            request_timeout: millis(DEFAULT_REQUEST_TIMEOUT_MS),
            body_timeout: millis(super::requests::DEFAULT_BODY_TIMEOUT_MS),
            backoff_min: millis(DEFAULT_BACKOFF_MIN_MS),
            backoff_max: Duration::from_secs_f64(DEFAULT_BACKOFF_MAX_SECS),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES.unsigned_abs() as usize,
            max_concurrent_enrichments: DEFAULT_MAX_CONCURRENT_ENRICHMENTS.unsigned_abs() as usize,
            max_requests_per_sec: None,
            max_concurrent_requests: None,
            tls: ClientTls::webpki_roots(),
            auth: None,
            heartbeat: None,
            source,
        }
    }
}

/// `heartbeat_secs`: `Some(None)` when it is not set, `None` once a bad value was reported.
fn heartbeat(
    check: &mut Checker<'_>,
    path: &KeyPath,
    secs: Option<f64>,
) -> Option<Option<Duration>> {
    let Some(secs) = secs else {
        return Some(None);
    };
    check
        .secs_at_least(
            &path.key("heartbeat_secs"),
            Some(secs),
            secs,
            (HEARTBEAT_SECS_AT_LEAST, HEARTBEAT_SECS_AT_MOST),
        )
        .map(Some)
}

fn destination(check: &mut Checker<'_>, path: &KeyPath, name: &str, ids: &BTreeSet<String>) {
    if ids.contains(name) {
        return;
    }
    let defined: Vec<&str> = ids.iter().map(String::as_str).collect();
    let known = if defined.is_empty() {
        "no destinations are defined".to_owned()
    } else {
        format!("defined: {}", defined.join(", "))
    };
    check.report(path, format!("unknown destination \"{name}\" ({known})"));
}

fn source(check: &mut Checker<'_>, path: &KeyPath, source: &str) -> Option<SourceKind> {
    match source {
        "changes" => Some(SourceKind::Changes),
        "fhir" => Some(SourceKind::Fhir),
        "snapshot" => Some(SourceKind::Snapshot),
        "consume-once" => Some(SourceKind::ConsumeOnce),
        other => {
            let message =
                format!("unsupported source \"{other}\" (supported: {SUPPORTED_SOURCES})");
            check.report(path, message);
            None
        }
    }
}

/// Paths are appended to the base URL as text, so a query or fragment would end up in the
/// middle of every request URL.
fn base_url(check: &mut Checker<'_>, path: &KeyPath, raw: &RawConnection) -> Option<url::Url> {
    let url = check.url(path, &raw.base_url)?;
    if url.query().is_some() || url.fragment().is_some() {
        check.report(
            path,
            "must not have a query or fragment (paths are appended to it)",
        );
        return None;
    }
    check.plain_http(path, &url, raw.allow_insecure_http.unwrap_or(false));
    Some(url)
}

fn limits(check: &mut Checker<'_>, path: &KeyPath, raw: &RawConnection) -> Option<Limits> {
    let interval = check.secs_at_least(
        &path.key("interval_secs"),
        raw.interval_secs,
        DEFAULT_INTERVAL_SECS,
        (INTERVAL_SECS_AT_LEAST, INTERVAL_SECS_AT_MOST),
    );
    let request_timeout = check.millis(
        &path.key("request_timeout_ms"),
        raw.request_timeout_ms,
        DEFAULT_REQUEST_TIMEOUT_MS,
        REQUEST_TIMEOUT_MS_AT_MOST,
    );
    let (backoff_min, backoff_max) = backoff(check, path, raw);
    let max_response_bytes = check.bytes(
        &path.key("max_response_bytes"),
        raw.max_response_bytes,
        DEFAULT_MAX_RESPONSE_BYTES,
        (MAX_RESPONSE_BYTES_AT_LEAST, MAX_RESPONSE_BYTES_AT_MOST),
    );
    let max_concurrent_enrichments = check.count(
        &path.key("max_concurrent_enrichments"),
        raw.max_concurrent_enrichments,
        DEFAULT_MAX_CONCURRENT_ENRICHMENTS,
        MAX_CONCURRENT_ENRICHMENTS_AT_MOST,
    );
    Some(Limits {
        interval: interval?,
        request_timeout: request_timeout?,
        backoff_min: backoff_min?,
        backoff_max: backoff_max?,
        max_response_bytes: max_response_bytes?,
        max_concurrent_enrichments: max_concurrent_enrichments?,
    })
}

/// The EHR failure backoff; the two ends are only compared when both are valid, so one bad
/// value is reported once.
fn backoff(
    check: &mut Checker<'_>,
    path: &KeyPath,
    raw: &RawConnection,
) -> (Option<Duration>, Option<Duration>) {
    let max_secs_path = path.key("backoff_max_secs");
    let min = check.millis(
        &path.key("backoff_min_ms"),
        raw.backoff_min_ms,
        DEFAULT_BACKOFF_MIN_MS,
        BACKOFF_MIN_MS_AT_MOST,
    );
    let max = check.positive_secs(
        &max_secs_path,
        raw.backoff_max_secs,
        DEFAULT_BACKOFF_MAX_SECS,
        BACKOFF_MAX_SECS_AT_MOST,
    );
    if let (Some(min), Some(max)) = (min, max) {
        if min > max {
            let message = format!(
                "must not be shorter than backoff_min_ms ({} ms)",
                min.as_millis()
            );
            check.report(&max_secs_path, message);
        }
    }
    (min, max)
}

/// Checks the steps in order: a placeholder may only use the result of an earlier step,
/// because steps run one after the other in file order.
fn enrich_steps(
    check: &mut Checker<'_>,
    path: &KeyPath,
    raw: Vec<RawEnrich>,
) -> Option<Vec<EnrichStep>> {
    let names: Vec<&str> = raw.iter().map(|step| step.name.as_str()).collect();
    let mut steps = Vec::with_capacity(raw.len());
    for (i, step) in raw.iter().enumerate() {
        let step_path = path.index(i);
        step_name(check, &step_path.key("name"), &names, i);
        let template = step_template(check, &step_path.key("path"), &step.path, &names, i);
        if let Some(template) = template {
            steps.push(EnrichStep {
                name: step.name.clone(),
                path: template,
                optional: step.optional,
            });
        }
    }
    (steps.len() == raw.len()).then_some(steps)
}

fn step_name(check: &mut Checker<'_>, path: &KeyPath, names: &[&str], i: usize) {
    let name = names[i];
    if name.is_empty() {
        check.report(path, "must not be empty");
    } else if name.contains(['/', '{', '}']) {
        check.report(
            path,
            "must not contain \"/\", \"{\" or \"}\" (placeholders could not name it)",
        );
    } else if let Some(first) = names[..i].iter().position(|n| *n == name) {
        let message = format!("duplicate enrich name \"{name}\" (first used by enrich[{first}])");
        check.report(path, message);
    }
}

fn step_template(
    check: &mut Checker<'_>,
    path: &KeyPath,
    text: &str,
    names: &[&str],
    i: usize,
) -> Option<Template> {
    let template = match Template::parse(text) {
        Ok(template) => template,
        Err(e) => {
            check.report(path, format!("not a valid template: {e}"));
            return None;
        }
    };
    if !text.starts_with('/') {
        check.report(path, "must start with \"/\" (it is appended to base_url)");
    }
    let mut valid = text.starts_with('/');
    for placeholder in template.placeholders() {
        if let Some(problem) = placeholder_problem(placeholder, names, i) {
            check.report(path, format!("placeholder {placeholder} {problem}"));
            valid = false;
        }
    }
    valid.then_some(template)
}

/// Why a placeholder of step `i` cannot be filled, if it cannot.
fn placeholder_problem(placeholder: &Placeholder, names: &[&str], i: usize) -> Option<String> {
    let (Placeholder::Change(pointer) | Placeholder::Resource { pointer, .. }) = placeholder;
    if let Some(problem) = pointer_problem(pointer) {
        return Some(format!("is not a JSON pointer: {problem}"));
    }
    let Placeholder::Resource { name, .. } = placeholder else {
        return None;
    };
    if names[..i].contains(&name.as_str()) {
        return None;
    }
    let problem = if names[i] == name {
        "names this step itself (it can only use earlier steps)".to_owned()
    } else if names[i + 1..].contains(&name.as_str()) {
        format!("names enrich step \"{name}\", which runs later (steps run in file order)")
    } else if i == 0 {
        format!("names enrich step \"{name}\", but there is no earlier step")
    } else {
        let earlier = names[..i].join(", ");
        format!("names no earlier enrich step \"{name}\" (earlier: {earlier})")
    };
    Some(problem)
}
