//! `spawn_app`: Courier's real actor tree between simulated EHRs and a receiver on loopback
//! ports, with a temporary store and short, test-sized timings.

use std::path::Path;
use std::time::Duration;

use courier::app::{App, AppOptions};
use courier::config::{self, Config};
use courier::delivery::signing::SigningKey;
use courier::status::{ConnectionStatus, DestinationStatus};
use courier::store::Store;
use courier_sim::{ReceiverOptions, SimEhr, SimEhrOptions, SimReceiver};

/// The environment variable the test configurations name for the destination secret.
pub const SECRET_ENV: &str = "COURIER_TEST_SECRET";

/// One connection of a test configuration: its id, its EHR, and keys that replace defaults.
pub struct ConnectionSpec {
    /// Connection id.
    pub id: String,
    /// The EHR's base URL.
    pub base_url: String,
    /// `key = value` TOML lines that replace the default of the same key.
    pub overrides: Vec<(&'static str, String)>,
    /// Default keys left out.
    pub removed: Vec<&'static str>,
}

impl ConnectionSpec {
    /// A connection to `ehr` with test defaults.
    pub fn new(id: &str, ehr: &SimEhr) -> Self {
        Self {
            id: id.to_owned(),
            base_url: ehr.base_url(),
            overrides: Vec::new(),
            removed: Vec::new(),
        }
    }

    /// Leaves one of the defaults out.
    pub fn without(mut self, key: &'static str) -> Self {
        self.removed.push(key);
        self
    }

    /// The connection reading whole windows with `cursor_from = "date_header"` and `lag_secs`,
    /// from 2000 on, instead of paging by item positions.
    pub fn date_header(self, lag_secs: &str) -> Self {
        self.without("page_size")
            .without("page_size_param")
            .without("cursor_pointer")
            .with("cursor_from", "\"date_header\"")
            .with("lag_secs", lag_secs)
            .with("initial_cursor", "\"2000-01-01T00:00:00Z\"")
    }

    /// Replaces one key's default (the value is TOML: quote strings).
    pub fn with(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.overrides.push((key, value.into()));
        self
    }

    fn toml(&self) -> String {
        let mut keys: Vec<(&str, String)> = vec![
            ("destination", "\"app\"".into()),
            ("source", "\"changes\"".into()),
            ("base_url", format!("{:?}", self.base_url)),
            ("interval_secs", "0.05".into()),
            ("request_timeout_ms", "2000".into()),
            ("backoff_min_ms", "20".into()),
            ("backoff_max_secs", "0.2".into()),
            ("changes_path", "\"/appointments/changed\"".into()),
            ("page_size_param", "\"limit\"".into()),
            ("page_size", "50".into()),
            ("key_pointer", "\"/id\"".into()),
            ("version_pointer", "\"/seq\"".into()),
            ("cursor_pointer", "\"/seq\"".into()),
            ("event_type", "\"appointment.updated\"".into()),
        ];
        for (key, value) in &self.overrides {
            match keys.iter_mut().find(|(k, _)| k == key) {
                Some(slot) => slot.1 = value.clone(),
                None => keys.push((key, value.clone())),
            }
        }
        keys.retain(|(key, _)| !self.removed.contains(key));
        let mut text = format!("[connections.{}]\n", self.id);
        for (key, value) in keys {
            text.push_str(&format!("{key} = {value}\n"));
        }
        for (name, path) in [
            ("appointment", "/appointments/{/id}"),
            ("patient", "/patients/{/patientId}"),
        ] {
            text.push_str(&format!(
                "[[connections.{}.enrich]]\nname = {name:?}\npath = {path:?}\n",
                self.id
            ));
        }
        text
    }
}

/// The text of a test configuration: destination `app` at `receiver_url`, the connections,
/// and `destination_extra` lines added to the destination table.
pub fn config_text(
    store: &Path,
    receiver_url: &str,
    destination_extra: &str,
    connections: &[ConnectionSpec],
) -> String {
    let mut text = format!(
        "[store]\npath = {:?}\n\n[runtime]\nworkers = 2\nshutdown_grace_secs = 2\n\n\
         [admin]\nlisten = \"127.0.0.1:0\"\n\n\
         [destinations.app]\nurl = {receiver_url:?}\nsecret_env = {SECRET_ENV:?}\ntimeout_ms = 2000\n{destination_extra}\n",
        store.display().to_string()
    );
    if !destination_extra.contains("retry_schedule_secs") {
        text.push_str("retry_schedule_secs = [0.05, 0.1, 0.2, 0.4]\n");
    }
    for connection in connections {
        text.push('\n');
        text.push_str(&connection.toml());
    }
    text
}

/// Parses a test configuration with the secret supplied for [`SECRET_ENV`].
pub fn parse_config(text: &str, secret: &str) -> Config {
    parse_config_with(text, secret, &[])
}

/// Parses a test configuration with the destination secret and `more` variables.
pub fn parse_config_with(text: &str, secret: &str, more: &[(&str, &str)]) -> Config {
    let env = |name: &str| {
        (name == SECRET_ENV).then(|| secret.to_owned()).or_else(|| {
            more.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        })
    };
    config::parse(text, Path::new("test.toml"), &env)
        .unwrap_or_else(|errors| panic!("test config refused:\n{errors}"))
}

/// A receiver on a loopback port with a fresh secret, and that secret.
pub fn start_receiver() -> (SimReceiver, String) {
    let secret = SigningKey::generate_secret();
    let options = ReceiverOptions::new(secret.clone());
    (
        SimReceiver::start(options).expect("receiver starts"),
        secret,
    )
}

/// A running Courier with its simulated EHR, receiver and temporary store.
pub struct TestApp {
    /// The running service.
    pub app: App,
    /// The (first) simulated EHR.
    pub ehr: SimEhr,
    /// The receiver.
    pub receiver: SimReceiver,
    /// The destination secret.
    pub secret: String,
    /// The configuration file the app was started from (a reload re-reads it).
    pub config_path: std::path::PathBuf,
    /// Keeps the store directory until the test ends.
    _dir: tempfile::TempDir,
}

/// Starts an EHR with `ehr_options`, a receiver, and Courier with one connection `clinic-a`
/// configured by `connection` (test defaults otherwise).
pub async fn spawn_app(
    ehr_options: SimEhrOptions,
    connection: impl FnOnce(ConnectionSpec) -> ConnectionSpec,
) -> TestApp {
    spawn_app_with(ehr_options, AppOptions::default(), "", |ehr| {
        vec![connection(ConnectionSpec::new("clinic-a", ehr))]
    })
    .await
}

/// Starts an EHR with `ehr_options`, a receiver, and Courier with `options` (a poll hook),
/// `destination_extra` lines in destination `app` and the connections `connections` makes
/// (all on that one EHR).
pub async fn spawn_app_with(
    ehr_options: SimEhrOptions,
    options: AppOptions,
    destination_extra: &str,
    connections: impl FnOnce(&SimEhr) -> Vec<ConnectionSpec>,
) -> TestApp {
    spawn_app_storing_in(None, ehr_options, options, destination_extra, connections).await
}

/// [`spawn_app_with`], with the store in `store` (a filesystem of the test's own) instead of
/// the test's temporary directory.
pub async fn spawn_app_storing_in(
    store: Option<&Path>,
    ehr_options: SimEhrOptions,
    options: AppOptions,
    destination_extra: &str,
    connections: impl FnOnce(&SimEhr) -> Vec<ConnectionSpec>,
) -> TestApp {
    let ehr = SimEhr::start(ehr_options).expect("simulated EHR starts");
    let (receiver, secret) = start_receiver();
    let dir = tempfile::tempdir().unwrap();
    let store_path = store.unwrap_or(dir.path());
    let specs = connections(&ehr);
    let text = config_text(store_path, &receiver.url(), destination_extra, &specs);
    let config = parse_config(&text, &secret);
    let config_path = dir.path().join("courier.toml");
    std::fs::write(&config_path, &text).unwrap();
    let store = Store::open(store_path).unwrap();
    let app = App::start(config, store, options);
    TestApp {
        app,
        ehr,
        receiver,
        secret,
        config_path,
        _dir: dir,
    }
}

impl TestApp {
    /// The destination `app`'s status.
    pub fn destination(&self) -> DestinationStatus {
        self.app.status().destinations["app"].clone()
    }

    /// One connection's status.
    pub fn connection(&self, id: &str) -> ConnectionStatus {
        self.app
            .status()
            .connections
            .get(id)
            .cloned()
            .unwrap_or_default()
    }
}

/// Waits on a condition with a deadline (the simulators' own, shared with the unit tests).
pub use courier_sim::wait::{eventually, eventually_async, eventually_some};

/// Ten seconds: generous for loopback, short enough to fail fast.
pub const PATIENCE: Duration = Duration::from_secs(10);
