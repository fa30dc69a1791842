//! Courier with one `source = "fhir"` connection `hospital-b` against a FHIR server (the
//! simulated one or sekmet-fhir), and what its receiver got, told as FHIR changes.

use std::collections::BTreeMap;
use std::time::Duration;

use courier::app::{App, AppOptions};
use courier::config::Config;
use courier::status::ConnectionStatus;
use courier::store::Store;
use courier_sim::SimReceiver;
use serde_json::Value;

use super::app::{config_text, eventually, parse_config_with, start_receiver, PATIENCE};
use super::periods::settled;

/// The connection id of every FHIR test.
pub const CONNECTION: &str = "hospital-b";

/// The FHIR connection's settings; `resources` holds whole `[[resources]]` bodies.
pub struct FhirSpec {
    /// The FHIR base URL.
    pub base_url: String,
    /// `page_size` (`_count`).
    pub page_size: usize,
    /// `lag_secs`.
    pub lag_secs: f64,
    /// `initial_since`; empty leaves the key out.
    pub initial_since: String,
    /// One TOML body per `[[connections.hospital-b.resources]]` table.
    pub resources: Vec<String>,
    /// Lines added to the destination's table (`format = ...`).
    pub destination_extra: String,
    /// The `[auth]` table's lines, if any.
    pub auth: Option<String>,
    /// Environment variables the configuration reads (auth secrets).
    pub env: Vec<(&'static str, String)>,
}

impl FhirSpec {
    /// Appointments at `base_url`, pages of 50, no lag, from 2020 on.
    pub fn new(base_url: &str) -> Self {
        Self {
            base_url: base_url.to_owned(),
            page_size: 50,
            lag_secs: 0.0,
            initial_since: "2020-01-01T00:00:00Z".to_owned(),
            resources: vec!["type = \"Appointment\"".to_owned()],
            destination_extra: String::new(),
            auth: None,
            env: Vec::new(),
        }
    }

    fn toml(&self) -> String {
        let mut text = format!(
            "[connections.{CONNECTION}]\ndestination = \"app\"\nsource = \"fhir\"\n\
             base_url = {:?}\ninterval_secs = 0.05\nrequest_timeout_ms = 5000\n\
             backoff_min_ms = 20\nbackoff_max_secs = 0.2\npage_size = {}\nlag_secs = {}\n",
            self.base_url, self.page_size, self.lag_secs
        );
        if !self.initial_since.is_empty() {
            text.push_str(&format!("initial_since = {:?}\n", self.initial_since));
        }
        for body in &self.resources {
            text.push_str(&format!("[[connections.{CONNECTION}.resources]]\n{body}\n"));
        }
        if let Some(auth) = &self.auth {
            text.push_str(&format!("[connections.{CONNECTION}.auth]\n{auth}\n"));
        }
        text
    }
}

/// A running Courier polling one FHIR server.
pub struct FhirApp {
    /// The running service.
    pub app: App,
    /// The receiver.
    pub receiver: SimReceiver,
    /// The configuration, to start again with.
    config: Config,
    /// Keeps the store directory until the test ends.
    dir: tempfile::TempDir,
}

/// Starts a receiver and Courier with the connection `spec` describes.
pub fn spawn_fhir_app(spec: &FhirSpec) -> FhirApp {
    let (receiver, secret) = start_receiver();
    let dir = tempfile::tempdir().unwrap();
    let mut text = config_text(dir.path(), &receiver.url(), &spec.destination_extra, &[]);
    text.push('\n');
    text.push_str(&spec.toml());
    let env: Vec<(&str, &str)> = spec.env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let config = parse_config_with(&text, &secret, &env);
    let store = Store::open(dir.path()).unwrap();
    let app = App::start(config.clone(), store, AppOptions::default());
    FhirApp {
        app,
        receiver,
        config,
        dir,
    }
}

/// One delivered notification, as a FHIR receiver reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// `type`.
    pub event_type: String,
    /// `data.focus`.
    pub focus: String,
    /// `data.version`.
    pub version: String,
    /// The whole body.
    pub body: Value,
}

impl FhirApp {
    /// Stops Courier gracefully and starts it again on the same store and receiver.
    pub async fn restarted(self) -> FhirApp {
        let FhirApp {
            app,
            receiver,
            config,
            dir,
        } = self;
        app.shutdown(Duration::from_secs(2)).await.unwrap();
        // The stopped workers drop their handles on the store a moment after shutdown.
        let mut store = None;
        eventually("the store to be free", PATIENCE, || {
            store = Store::open(dir.path()).ok();
            store.is_some()
        })
        .await;
        let store = store.expect("opened");
        let app = App::start(config.clone(), store, AppOptions::default());
        FhirApp {
            app,
            receiver,
            config,
            dir,
        }
    }

    /// Distinct notifications accepted, by id, in first-arrival order.
    pub fn changes(&self) -> Vec<Change> {
        let mut by_id = BTreeMap::new();
        let mut order = Vec::new();
        for r in self.receiver.accepted() {
            if by_id.contains_key(&r.id) {
                continue;
            }
            let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            let change = Change {
                event_type: text(&r.json["type"]),
                focus: text(&r.json["data"]["focus"]),
                version: text(&r.json["data"]["version"]),
                body: r.json.clone(),
            };
            order.push(r.id.clone());
            by_id.insert(r.id, change);
        }
        order.into_iter().map(|id| by_id[&id].clone()).collect()
    }

    /// `(focus, version)` of every distinct notification, sorted.
    pub fn versions(&self) -> Vec<(String, String)> {
        let mut all: Vec<_> = self
            .changes()
            .into_iter()
            .map(|c| (c.focus, c.version))
            .collect();
        all.sort();
        all
    }

    /// The connection's status.
    pub fn status(&self) -> ConnectionStatus {
        self.app
            .status()
            .connections
            .get(CONNECTION)
            .cloned()
            .unwrap_or_default()
    }

    /// Waits until the connection has polled `polls` more times and all it found is
    /// delivered, so a notification that should not come has had its chance to.
    pub async fn settle(&self, polls: u64) {
        settled(&self.app, CONNECTION, polls).await;
    }
}
