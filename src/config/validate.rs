//! Semantic checks: turns the file as written into a `Config`, or lists every problem at once.
//!
//! Each check records its problem and carries on, so one run reports all mistakes; a value
//! is only built when nothing about it was wrong.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use url::Url;

use super::bounds::Max;
use super::connection;
use super::locate::KeyPath;
use super::raw::{RawConfig, RawDestination, RawRuntime};
use super::requests;
use super::tls::TlsKeys;
use super::{Config, DestinationConfig, RuntimeConfig, Secret};
use courier_wire::SigningKey;

/// Seconds `run` waits for in-flight work after SIGTERM, unless configured.
const DEFAULT_SHUTDOWN_GRACE_SECS: f64 = 10.0;
/// Whole-request timeout of one delivery attempt, unless configured.
const DEFAULT_TIMEOUT_MS: i64 = 15_000;
/// Notifications in flight per destination, unless configured.
const DEFAULT_MAX_IN_FLIGHT: i64 = 64;
/// Retry delays: quick at first, then spread over about a day before dead-lettering.
const DEFAULT_RETRY_SCHEDULE_SECS: [f64; 7] =
    [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0];
/// Hours a delivered notification is kept for replay, unless configured: a long weekend.
const DEFAULT_RETAIN_HOURS: f64 = 72.0;
/// Longest id accepted, so ids stay readable in logs and notification ids stay short.
const MAX_ID_LEN: usize = 64;

// Upper bounds (see `bounds` for why there are any).

/// Each worker is an OS thread with its own event loop; more than this only adds contention.
const WORKERS_AT_MOST: u32 = 256;
/// A longer shutdown grace would outlast any process supervisor's stop timeout.
const SHUTDOWN_GRACE_SECS_AT_MOST: Max = Max::secs(3_600, "1 hour");
/// A delivery attempt still unanswered after an hour will not be answered.
const TIMEOUT_MS_AT_MOST: Max = Max::millis(3_600_000, "1 hour");
/// Every notification in flight holds a permit, a request and a timer.
const MAX_IN_FLIGHT_AT_MOST: u32 = 100_000;
/// One retry delay; a week is already past any receiver's outage worth waiting out.
const RETRY_DELAY_SECS_AT_MOST: Max = Max::secs(604_800, "7 days");
/// Retention for replay; a year of every notification is already more disk than intended.
const RETAIN_HOURS_AT_MOST: Max = Max::hours(8_760, "1 year");
/// Retry delays per destination; every attempt of a notification is recorded.
const RETRY_SCHEDULE_LEN_AT_MOST: usize = 100;

/// One semantic problem, located later by its key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Problem {
    /// The offending key.
    pub path: KeyPath,
    /// The line, when already known (structural errors carry a span).
    pub line: Option<usize>,
    /// What is wrong; never contains a secret.
    pub message: String,
}

/// Records problems while checking, and reads secrets through the injected environment.
pub(super) struct Checker<'e> {
    env: &'e dyn Fn(&str) -> Option<String>,
    problems: Vec<Problem>,
}

/// Checks a deserialized file and builds the configuration it describes.
pub(super) fn validate(
    raw: RawConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, Vec<Problem>> {
    let mut check = Checker {
        env,
        problems: Vec::new(),
    };
    let root = KeyPath::root();
    let store = super::store::store(&mut check, &root.key("store"), raw.store);
    let cluster = super::store::cluster(&mut check, &root.key("cluster"), raw.cluster);
    let runtime = runtime(&mut check, &root.key("runtime"), raw.runtime);
    let admin = super::admin::admin(&mut check, &root.key("admin"), raw.admin);
    let destination_ids: BTreeSet<String> = raw.destinations.keys().cloned().collect();
    let destinations: BTreeMap<_, _> = raw
        .destinations
        .into_iter()
        .filter_map(|(id, d)| {
            let path = root.key("destinations").key(&id);
            destination(&mut check, &path, id.clone(), d).map(|d| (id, d))
        })
        .collect();
    if raw.connections.is_empty() {
        check.report(
            &root.key("connections"),
            "at least one connection is required",
        );
    }
    let connections: BTreeMap<_, _> = raw
        .connections
        .into_iter()
        .filter_map(|(id, c)| {
            let path = root.key("connections").key(&id);
            connection::connection(&mut check, &path, id.clone(), c, &destination_ids)
                .map(|c| (id, c))
        })
        .collect();
    super::format::check_pairings(&mut check, &connections, &destinations);
    if !check.problems.is_empty() {
        return Err(check.problems);
    }
    Ok(Config {
        store: store.expect("checked without problems"),
        cluster,
        runtime,
        admin: admin.expect("checked without problems"),
        destinations,
        connections,
    })
}

fn runtime(check: &mut Checker<'_>, path: &KeyPath, raw: RawRuntime) -> RuntimeConfig {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let workers = match raw.workers {
        Some(workers) => check.count(&path.key("workers"), Some(workers), 1, WORKERS_AT_MOST),
        // The default obeys the bound too, on machines with more cores than that.
        None => Some(cores.min(WORKERS_AT_MOST as usize)),
    };
    let grace = raw
        .shutdown_grace_secs
        .unwrap_or(DEFAULT_SHUTDOWN_GRACE_SECS);
    let grace_path = path.key("shutdown_grace_secs");
    RuntimeConfig {
        workers: workers.unwrap_or_default(),
        shutdown_grace: check
            .delay_secs(&grace_path, grace, SHUTDOWN_GRACE_SECS_AT_MOST)
            .unwrap_or_default(),
    }
}

fn destination(
    check: &mut Checker<'_>,
    path: &KeyPath,
    id: String,
    raw: RawDestination,
) -> Option<DestinationConfig> {
    check.id(path, &id);
    let url = check.url(&path.key("url"), &raw.url);
    if let Some(url) = &url {
        let allowed = raw.allow_insecure_http.unwrap_or(false);
        check.plain_http(&path.key("url"), url, allowed);
    }
    let tls = check.client_tls(
        path,
        TlsKeys {
            ca_file: raw.ca_file.as_deref(),
            client_cert_file: raw.client_cert_file.as_deref(),
            client_key_file: raw.client_key_file.as_deref(),
        },
    );
    let signing_key = check.signing_key(&path.key("secret_env"), &raw.secret_env);
    let timeout = check.millis(
        &path.key("timeout_ms"),
        raw.timeout_ms,
        DEFAULT_TIMEOUT_MS,
        TIMEOUT_MS_AT_MOST,
    );
    let connect_timeout = requests::connect_timeout(
        check,
        &path.key("connect_timeout_ms"),
        raw.connect_timeout_ms,
        timeout,
    );
    let max_in_flight = check.count(
        &path.key("max_in_flight"),
        raw.max_in_flight,
        DEFAULT_MAX_IN_FLIGHT,
        MAX_IN_FLIGHT_AT_MOST,
    );
    let headers =
        super::headers::headers_env(check, &path.key("headers_env"), raw.headers_env.as_ref());
    let schedule_path = path.key("retry_schedule_secs");
    let behaviour = super::ordering::behaviour(check, path, &raw);
    let retry_schedule = retry_schedule(check, &schedule_path, raw.retry_schedule_secs);
    let retain_hours = raw.retain_hours.unwrap_or(DEFAULT_RETAIN_HOURS);
    // `delay_secs` checks finiteness, sign and bound in the key's own unit (hours here).
    let retain = check
        .delay_secs(
            &path.key("retain_hours"),
            retain_hours,
            RETAIN_HOURS_AT_MOST,
        )
        .map(|hours| hours.mul_f64(3_600.0));
    let format = super::format::format(check, path, raw.format.as_deref(), raw.payload.as_deref());
    let behaviour = behaviour?;
    Some(DestinationConfig {
        id,
        url: url?,
        signing_key: signing_key?,
        secret_env: raw.secret_env,
        timeout: timeout?,
        connect_timeout: connect_timeout?,
        tls: tls?,
        max_in_flight: max_in_flight?,
        retry_schedule: retry_schedule?,
        headers: headers?,
        retain: retain?,
        format: format?,
        order: behaviour.order,
        failure_threshold: behaviour.failure_threshold,
    })
}

/// The retry delays of a destination: at least one, not too many, each one bounded.
fn retry_schedule(
    check: &mut Checker<'_>,
    path: &KeyPath,
    raw: Option<Vec<f64>>,
) -> Option<Vec<Duration>> {
    let schedule = raw.unwrap_or_else(|| DEFAULT_RETRY_SCHEDULE_SECS.to_vec());
    if schedule.is_empty() {
        check.report(path, "must list at least one retry delay");
    } else if schedule.len() > RETRY_SCHEDULE_LEN_AT_MOST {
        let message = format!(
            "must list at most {RETRY_SCHEDULE_LEN_AT_MOST} retry delays (got {})",
            schedule.len()
        );
        check.report(path, message);
    }
    let delays: Vec<_> = schedule
        .iter()
        .enumerate()
        .map(|(i, secs)| check.delay_secs(&path.index(i), *secs, RETRY_DELAY_SECS_AT_MOST))
        .collect();
    let acceptable = (1..=RETRY_SCHEDULE_LEN_AT_MOST).contains(&delays.len());
    delays
        .into_iter()
        .collect::<Option<_>>()
        .filter(|_| acceptable)
}

impl Checker<'_> {
    /// Records a problem with the key at `path`.
    pub fn report(&mut self, path: &KeyPath, message: impl Into<String>) {
        self.problems.push(Problem {
            path: path.clone(),
            line: None,
            message: message.into(),
        });
    }

    /// Checks a connection or destination id: it appears in logs, metrics and notification
    /// ids, so it is kept to characters that need no escaping anywhere.
    pub fn id(&mut self, path: &KeyPath, id: &str) {
        let valid = (1..=MAX_ID_LEN).contains(&id.len())
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid {
            self.report(
                path,
                format!("invalid id: use 1 to {MAX_ID_LEN} of A-Z a-z 0-9 _ -"),
            );
        }
    }

    /// Checks that a text value says something.
    pub fn non_empty(&mut self, path: &KeyPath, text: &str) {
        if text.trim().is_empty() {
            self.report(path, "must not be empty");
        }
    }

    /// Parses an http(s) URL with a host; a password in it would be a secret in the file.
    pub fn url(&mut self, path: &KeyPath, text: &str) -> Option<Url> {
        if let Some(placeholder) = demo_placeholder(text) {
            self.report(
                path,
                format!(
                    "{placeholder} is a placeholder that `courier demo` fills in: this file is \
                     the demo's template; to run against your own EHR, start from \
                     config/example.toml"
                ),
            );
            return None;
        }
        let url = match Url::parse(text) {
            Ok(url) => url,
            Err(e) => {
                self.report(path, format!("not a valid URL ({e})"));
                return None;
            }
        };
        let problem = if !matches!(url.scheme(), "http" | "https") {
            format!(
                "scheme \"{}\" is not supported (use http or https)",
                url.scheme()
            )
        } else if url.host_str().is_none_or(str::is_empty) {
            "a URL must have a host".to_owned()
        } else if url.password().is_some() {
            "must not contain a password (secrets are read from the environment)".to_owned()
        } else {
            return Some(url);
        };
        self.report(path, problem);
        None
    }

    /// Reports each of `keys` (name, value) whose value is absent as a missing required key.
    pub fn required(&mut self, path: &KeyPath, keys: &[(&str, bool)]) {
        for (key, _) in keys.iter().filter(|(_, present)| !present) {
            self.report(&path.key(key), "missing required key");
        }
    }

    /// Checks a JSON pointer such as `key_pointer`.
    pub fn pointer(&mut self, path: &KeyPath, pointer: &str) {
        if let Some(problem) = pointer_problem(pointer) {
            self.report(path, format!("not a JSON pointer: {problem}"));
        }
    }

    /// Reads and checks the secret held by environment variable `var`; messages name the
    /// variable, never its value.
    fn signing_key(&mut self, path: &KeyPath, var: &str) -> Option<SigningKey> {
        if var.starts_with("whsec_") {
            self.report(
                path,
                "must name the environment variable that holds the secret, not be the secret",
            );
            return None;
        }
        let secret = self.env_secret(path, var)?;
        match SigningKey::from_secret(secret.expose()) {
            Ok(key) => Some(key),
            Err(e) => {
                self.report(path, format!("environment variable {var}: {e}"));
                None
            }
        }
    }

    /// Reads the non-empty secret held by environment variable `var` (the value of a
    /// `*_env` key at `path`). Messages name the variable, never its value, and not even the
    /// variable when its name looks like a pasted secret rather than a variable.
    pub fn env_secret(&mut self, path: &KeyPath, var: &str) -> Option<Secret> {
        let problem = if !is_env_name(var) {
            "must be the name of an environment variable (A-Z a-z 0-9 _, not starting with a digit)"
                .into()
        } else {
            // Variables are upper case by convention; a lower-case "name" is more likely a
            // pasted password, which must not be echoed into a terminal or a CI log.
            let echo = !var.bytes().any(|b| b.is_ascii_lowercase());
            match ((self.env)(var), echo) {
                (None, true) if var == super::DEMO_SECRET_ENV => format!(
                    "environment variable {var} is not set: `courier demo` supplies it to its \
                     own templates; to run this file yourself, set it to the receiver's signing secret"
                ),
                (None, true) => format!("environment variable {var} is not set"),
                (None, false) => "no environment variable of this name is set (it must name \
                                  the variable that holds the secret, not be the secret)"
                    .into(),
                (Some(secret), true) if secret.trim().is_empty() => {
                    format!("environment variable {var} is empty")
                }
                (Some(secret), false) if secret.trim().is_empty() => {
                    "the environment variable of this name is empty".into()
                }
                (Some(secret), _) => return Some(Secret::new(secret)),
            }
        };
        self.report(path, problem);
        None
    }
}

/// Why `pointer` is not a JSON pointer (RFC 6901: empty, or `/`-separated with `~0` and `~1`
/// escapes), if it is not; checked at load so a typo cannot fail every poll.
pub(super) fn pointer_problem(pointer: &str) -> Option<&'static str> {
    if !pointer.is_empty() && !pointer.starts_with('/') {
        Some("must be \"\" or start with \"/\" (such as \"/id\")")
    } else if pointer
        .split('~')
        .skip(1)
        .any(|rest| !rest.starts_with(['0', '1']))
    {
        Some("\"~\" must be followed by 0 or 1")
    } else {
        None
    }
}

/// Whether `name` is a portable environment variable name; anything else is more likely a
/// pasted secret than a variable, and must not be echoed back.
fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The first `{demo_…}` placeholder in `text`: `courier demo` fills these in its templates
/// (`config/demo*.toml`), so a file holding one is a template run as is, whose URL errors
/// alone would not say so.
fn demo_placeholder(text: &str) -> Option<&str> {
    let start = text.find("{demo_")?;
    let end = start + text[start..].find('}')?;
    Some(&text[start..=end])
}
