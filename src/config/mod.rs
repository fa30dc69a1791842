//! Typed settings: what a configuration file may say, loaded and validated before anything starts.
//!
//! A configuration is either accepted whole or refused with every problem listed as
//! `file:line: key: what is wrong`, so nothing ever starts half-configured.

mod admin;
mod auth;
mod bounds;
mod changes;
mod connection;
mod consume;
mod cursor;
mod error;
mod fhir;
mod format;
mod headers;
mod load;
mod locate;
mod ordering;
mod raw;
mod requests;
mod secret;
mod snapshot;
mod source;
mod store;
mod tls;
mod validate;

pub use error::{ConfigError, ConfigErrors};
pub use fhir::is_type_name as is_fhir_type;
pub use load::{load, parse, process_env};
pub use secret::Secret;
pub use source::{
    ChangesSource, ConsumeOnceSource, CursorFrom, EnrichStep, FhirMode, FhirResource, FhirSource,
    FhirWindow, Initial, Paging, Recovery, ReferencePath, SnapshotSource, Source, SourceKind,
};
pub use store::{DEFAULT_LEASE_SECS, DEFAULT_POOL_SIZE, DEFAULT_SCHEMA};

/// The environment variable the demo's templates (`config/demo*.toml`) name for their
/// signing secret: `courier demo` supplies its value, and `courier check` says so rather
/// than only that it is unset.
pub const DEMO_SECRET_ENV: &str = "COURIER_DEMO_SECRET";

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::client_key::{ClientKey, JwtAlgorithm};
use crate::model::NotificationFormat;
use crate::tls::ClientTls;
use courier_wire::SigningKey;

/// The whole, validated configuration of one Courier process.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the durable state lives.
    pub store: StoreConfig,
    /// How instances sharing a PostgreSQL store hand connections to each other.
    pub cluster: ClusterConfig,
    /// Process-wide knobs (threads, shutdown).
    pub runtime: RuntimeConfig,
    /// The admin HTTP API (health, metrics, status, control).
    pub admin: AdminConfig,
    /// Webhook receivers, by the id that connections refer to.
    pub destinations: BTreeMap<String, DestinationConfig>,
    /// EHR connections, by id; every `destination` named here exists in `destinations`.
    pub connections: BTreeMap<String, ConnectionConfig>,
}

/// `[store]`: which backend keeps the durable state.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreConfig {
    /// `backend = "sled"` (the default): embedded, one process on one machine.
    Sled {
        /// Directory of the sled database; created when missing.
        path: PathBuf,
    },
    /// `backend = "postgres"`: a database several instances share as one cluster.
    Postgres(PostgresConfig),
}

impl StoreConfig {
    /// Names the store for messages: its directory, or its database's schema (never the
    /// connection string, which may hold a password).
    pub fn describe(&self) -> String {
        match self {
            StoreConfig::Sled { path } => format!("store.path {}", path.display()),
            StoreConfig::Postgres(pg) => {
                format!("postgres ${} schema {}", pg.url_env, pg.schema)
            }
        }
    }
}

/// `[store] backend = "postgres"`.
#[derive(Debug, Clone, PartialEq)]
pub struct PostgresConfig {
    /// The connection string, read from the variable `url_env` names (it may hold a
    /// password); `sslmode` in it is honoured, TLS by rustls.
    pub url: Secret,
    /// The variable that held the connection string, for messages.
    pub url_env: String,
    /// Connections the instance's pool keeps to the database; 1 to 1000.
    pub pool_size: usize,
    /// The schema Courier creates its tables in (a plain SQL name, never quoted).
    pub schema: String,
    /// Extra CA certificates (PEM) trusted for the database's TLS certificate, besides the
    /// webpki roots.
    pub ca_file: Option<PathBuf>,
}

/// `[cluster]`: leases of a postgres store's instances.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterConfig {
    /// How long a lease lasts without renewal (`lease_secs`, 3 to 3600, default 10); renewed
    /// every third of it. An instance lost this long hands its connections over.
    pub lease: Duration,
}

/// `[runtime]`: optional process settings.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Worker threads (actix arbiters) that connections and deliveries are spread over;
    /// 1 to 256, defaulting to the number of cores (capped at 256).
    pub workers: usize,
    /// How long `run` waits for in-flight requests after SIGTERM before exiting; at most 1 h.
    pub shutdown_grace: Duration,
}

/// `[admin]`: where the admin HTTP API listens and who may call it.
#[derive(Debug, Clone)]
pub struct AdminConfig {
    /// Whether `courier run` starts the admin server at all (`enabled = false` turns it off).
    pub enabled: bool,
    /// The address to bind; port 0 picks a free port (tests). Loopback unless `token` is set.
    pub listen: std::net::SocketAddr,
    /// Bearer token every request must carry, read from the variable named by `token_env`;
    /// always set when `listen` is not a loopback address.
    pub token: Option<Secret>,
}

/// `[destinations.<id>]`: one webhook receiver.
#[derive(Debug, Clone)]
pub struct DestinationConfig {
    /// The destination's id (the table name).
    pub id: String,
    /// Where notifications are POSTed.
    pub url: url::Url,
    /// Standard Webhooks key, read from the environment variable named by `secret_env`.
    pub signing_key: SigningKey,
    /// Name of the environment variable that held the secret (for messages, never the value).
    pub secret_env: String,
    /// Whole-request timeout of one delivery attempt; 1 ms to 1 h.
    pub timeout: Duration,
    /// Timeout of opening a connection to the receiver (TCP, then again for the TLS
    /// handshake); 1 ms to 1 h, and never longer than `timeout`.
    pub connect_timeout: Duration,
    /// What the destination's HTTPS client trusts (the webpki roots and `ca_file`) and
    /// presents (`client_cert_file` and `client_key_file`).
    pub tls: ClientTls,
    /// Notifications being attempted or waiting for a retry at once, per destination;
    /// 1 to 100 000.
    pub max_in_flight: usize,
    /// Delay before each retry; when exhausted the notification is dead-lettered. 1 to 100
    /// delays, each at most 7 days.
    pub retry_schedule: Vec<Duration>,
    /// Extra headers sent with every notification (values from the environment, marked
    /// sensitive), for receivers behind an API gateway.
    pub headers: Vec<(
        actix_web::http::header::HeaderName,
        actix_web::http::header::HeaderValue,
    )>,
    /// How long delivered notifications are kept for replay (`retain_hours`, default 72, at
    /// most 1 year); zero keeps none.
    pub retain: Duration,
    /// The shape of the bodies sent (`format`, and `payload` for `fhir-subscription`);
    /// `fhir-subscription` destinations are only fed by FHIR sources.
    pub format: NotificationFormat,
    /// Whether notifications that share a key wait for each other (`ordering`).
    pub order: DeliveryOrder,
    /// Consecutive failed attempts, across all notifications, after which the destination is
    /// failing and only probed; 1 to 100 000.
    pub failure_threshold: u32,
}

/// `ordering` (and `ordering_key`) of a destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOrder {
    /// Notifications of one connection that share a key are delivered one at a time, in
    /// sequence order; other keys flow past a key that is waiting.
    PerKey {
        /// JSON pointer into the change item whose value is the key (such as `/patientId`);
        /// `None`: the record key. An item without a value there is ordered by its record key.
        key_pointer: Option<String>,
    },
    /// Up to `max_in_flight` notifications at once, in no particular order.
    None,
}

/// `[connections.<id>]`: one EHR API polled for changes.
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    /// The connection's id (the table name); also part of every notification id.
    pub id: String,
    /// Id of the destination that receives this connection's notifications.
    pub destination: String,
    /// Base URL that the source's paths (feed, searches, enrichment) are appended to.
    pub base_url: url::Url,
    /// Pause between the end of one poll and the start of the next (10% jitter added);
    /// more than 0, at most 1 day.
    pub interval: Duration,
    /// Timeout of opening a connection to the EHR (TCP, then again for the TLS handshake);
    /// 1 ms to 1 h, and never longer than `request_timeout`.
    pub connect_timeout: Duration,
    /// Timeout from sending an EHR request (connecting included) to its response headers;
    /// 1 ms to 1 h.
    pub request_timeout: Duration,
    /// Timeout of reading a whole EHR response body, once its headers arrived; 1 ms to 1 h.
    /// A request also fails once `request_timeout + body_timeout` passed, whatever it waits
    /// for.
    pub body_timeout: Duration,
    /// First delay after an EHR failure; doubles per consecutive failure. 1 ms to 1 h.
    pub backoff_min: Duration,
    /// Upper bound of the EHR failure backoff (and of an honoured `Retry-After`); at least
    /// `backoff_min`, at most 1 day.
    pub backoff_max: Duration,
    /// Largest EHR response body accepted; 1 KiB to 1 GiB.
    pub max_response_bytes: usize,
    /// Containers being enriched at once for this connection; 1 to 10 000.
    pub max_concurrent_enrichments: usize,
    /// Requests per second to the EHR, polls and enrichment together, spaced evenly; 0.001
    /// to 10 000, or unlimited when `None`.
    pub max_requests_per_sec: Option<f64>,
    /// Requests to the EHR in flight at once, polls and enrichment together; 1 to 10 000,
    /// or unlimited when `None`.
    pub max_concurrent_requests: Option<usize>,
    /// What the connection's HTTPS client trusts (the webpki roots and `ca_file`) and
    /// presents (`client_cert_file` and `client_key_file`).
    pub tls: ClientTls,
    /// How requests to the EHR are authenticated; `None` sends no `Authorization` header.
    pub auth: Option<AuthConfig>,
    /// After this long without a delivery, a `courier.heartbeat` event is sent to the
    /// destination, so a receiver can tell a quiet feed from a broken one; `None` sends none.
    pub heartbeat: Option<Duration>,
    /// The API flavour, with the settings only that flavour has.
    pub source: Source,
}

/// `[connections.<id>.auth]`: how Courier proves who it is to the EHR. Every secret was read
/// at load (from the environment or the key file), so a connection never starts without it.
#[derive(Debug, Clone)]
pub enum AuthConfig {
    /// `Authorization: Bearer <token>` with a static token from `token_env`.
    Bearer {
        /// The token; visible ASCII only, so it can be sent in a header as is.
        token: Secret,
    },
    /// HTTP Basic with `username` and the password from `password_env`.
    Basic {
        /// The user name; never contains `:`.
        username: String,
        /// The password.
        password: Secret,
    },
    /// OAuth 2.0 client credentials grant with a client secret.
    ClientCredentials(ClientCredentialsAuth),
    /// SMART Backend Services: client credentials with a signed JWT client assertion.
    SmartBackend(SmartBackendAuth),
}

/// `type = "client_credentials"`.
#[derive(Debug, Clone)]
pub struct ClientCredentialsAuth {
    /// The token endpoint (http or https, no password in it).
    pub token_url: url::Url,
    /// The client's id.
    pub client_id: String,
    /// The client secret, read from `client_secret_env`.
    pub client_secret: Secret,
    /// Space-separated scopes requested, when the endpoint needs them.
    pub scope: Option<String>,
    /// How the client id and secret are sent.
    pub client_auth: ClientAuth,
}

/// How a client secret is sent to the token endpoint (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// HTTP Basic, id and secret form-urlencoded first (`client_secret_basic`).
    Basic,
    /// `client_id` and `client_secret` in the form body (`client_secret_post`).
    Post,
}

/// `type = "smart_backend"`.
#[derive(Debug, Clone)]
pub struct SmartBackendAuth {
    /// The token endpoint; also the assertion's `aud`.
    pub token_url: url::Url,
    /// The client's id: the assertion's `iss` and `sub`.
    pub client_id: String,
    /// The signing key, read from `private_key_file` at load.
    pub key: Arc<ClientKey>,
    /// Where the key was read from, for messages.
    pub private_key_file: PathBuf,
    /// The JWS algorithm; always fits `key`.
    pub algorithm: JwtAlgorithm,
    /// The key id registered with the EHR (JWS header `kid`).
    pub kid: String,
    /// Where the EHR finds the public keys (JWS header `jku`); always https.
    pub jku: Option<url::Url>,
    /// Space-separated scopes requested, such as `system/Appointment.rs`.
    pub scope: String,
}

#[cfg(test)]
mod tests;
