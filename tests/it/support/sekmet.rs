//! A real FHIR R4 server for the tests: **sekmet-fhir 0.1.1** (FastAPI, SQLite), installed from
//! PyPI into a virtualenv once per target directory and started per test on a loopback port
//! with a temporary `data_dir`, its simulator off, and the auth mode the test asks for.
//!
//! # What sekmet-fhir does (read from its source, checked by `sekmet_smoke`)
//!
//! **Start-up.** `python -m uvicorn --factory sekmet.main:app_factory --host H --port P` with
//! `SEKMET_CONFIG=<settings.yaml>`, which is what `sekmet serve --config` runs. Settings are
//! YAML (JSON is valid YAML, so this harness writes JSON); the environment variables
//! `SEKMET_BASE_URL`, `SEKMET_DB`, `SEKMET_PUBLIC_URL` and `SEKMET_PORT` override keys, so the
//! harness removes them. Keys that matter: `base_url` (the FHIR base, written into `fullUrl`s,
//! links and the token audience, so it must be the real address), `host`, `port`, `data_dir`
//! (holds `sekmet.db`), `simulator.enabled` (when on, sekmet answers writes after
//! `delay_seconds`, e.g. books a requested Appointment), `log_inbound` (when on, every
//! request and body goes to a SQLite traffic table), `validation.inbound` (`strict` by
//! default: a structurally invalid resource is refused with 400), `server_auth`. Ready in
//! about a second; it writes six `SubscriptionTopic`s at start (seen in `/_history`).
//!
//! **Routes.** FHIR base `/fhir`. `GET /fhir/metadata` is open in every auth mode (a
//! CapabilityStatement declaring `history-type`, `history-instance`, `history-system`; with
//! `smart`, the token URL in the `oauth-uris` extension), as is
//! `/fhir/.well-known/smart-configuration`. The token endpoint is `POST /auth/token` at the
//! server root, not under `/fhir`. Paths are percent-decoded before routing, so
//! `/fhir/Patient%2Fp1` reads `Patient/p1`.
//!
//! **Writes.** `PUT /fhir/{type}/{id}` updates or creates with the client's id (201 created,
//! 200 updated); `POST` creates with a server UUID; `PATCH` (JSON Patch, FHIRPath Patch);
//! `DELETE` answers 200 with an `OperationOutcome` (even when nothing was there), after which
//! a read is 410; conditional create/update/delete; transaction and batch Bundles. Every write,
//! a delete too, bumps `meta.versionId` (`"1"`, `"2"`…) and sets `meta.lastUpdated` to UTC
//! with milliseconds and `Z` (`2026-11-26T04:14:11.323Z`). Responses carry `ETag: W/"n"`,
//! `Last-Modified`, and uvicorn's `Date` (whole seconds).
//!
//! **Search** `GET /fhir/{type}?…`. `_lastUpdated` takes the prefixes `eq ne gt lt ge le sa eb
//! ap` (followed by a digit); **without a prefix it is `eq` at the value's precision**:
//! `_lastUpdated=2026-11-26T04:14:11.323Z` matches that millisecond only. `ge` is inclusive,
//! `gt` exclusive. `_sort=_lastUpdated` (or `-_lastUpdated`) orders by time, ties in write
//! order; without `_sort`, write order. `_count` (default 20, at most 1000) and `_offset`,
//! with offset-based `next` links. Deleted resources are not found. An unknown parameter is
//! ignored and adds an entry with `search.mode = "outcome"` (an `OperationOutcome`), unless
//! `Prefer: handling=strict` makes it a 400.
//!
//! **History** `GET /fhir/{type}/_history`, `/fhir/{type}/{id}/_history`, `/fhir/_history`:
//! **newest first**, `_count` (default 50, at most 1000) and `_offset`, an offset-based `next`
//! link. `_since` is compared **as text** with the stored time (`last_updated >= _since`), so
//! send it in sekmet's own form: `…T04:14:11Z` sorts after `…T04:14:11.323Z` and skips the rest
//! of that second; `_since=0` returns everything. Each entry has `fullUrl`
//! (`{base_url}/{type}/{id}`), `request.method` (`PUT`, `POST` or `DELETE`), `request.url`
//! (`{type}/{id}`, but only `{type}` after a POST), `response.etag` (`W/"n"`) and
//! `response.lastModified`; **DELETE entries have no `resource`**.
//!
//! **Auth** (`server_auth`). `types` lists the accepted schemes: `none` (the default: all
//! open), `basic` (`users: {name: password}`), `bearer` (`tokens: [...]`, static), `smart`.
//! No `Authorization` header gives 401 with `WWW-Authenticate: Bearer realm="sekmet"`, and so
//! does a wrong token. `smart` takes `smart_clients: [{client_id, scopes, client_secret |
//! jwks | jwks_url | public_key_path}]`, `token_lifetime` (seconds, default 3600) and
//! `enforce_scopes` (default true). `POST /auth/token` takes a form with
//! `grant_type=client_credentials` (the only grant) and an optional `scope` (default: all the
//! client's; narrowed to what the client may have, 400 `invalid_scope` when nothing is left),
//! the client authenticated by `client_secret_basic` (the Basic header is not URL-decoded:
//! keep ids and secrets free of `%`, `+` and `:`), `client_secret_post` (`client_id` and
//! `client_secret` in the form) or `private_key_jwt` (`client_assertion_type=urn:ietf:params:
//! oauth:client-assertion-type:jwt-bearer`, RS384/ES384/RS256/ES256, `aud` = the token URL,
//! `iss` = `sub`, `exp` at most 300 s ahead, single-use `jti`). A wrong secret is 401
//! `invalid_client`. The answer is `{access_token (an HS256 JWT), token_type: "bearer",
//! expires_in, scope}`. Scopes, SMART v1 (`system/Appointment.read|write|*`) or v2
//! (`system/Appointment.rs|cruds`), `*` for any type, are checked per request: GET needs `rs`,
//! PUT/PATCH `u`, POST `c`, DELETE `d`, on the type that starts the path (so `/_history` needs
//! `system/*.rs`); 403 `forbidden` otherwise, 401 "Access token expired" after the lifetime.
//!
//! **Polling it with Courier's `source = "fhir"`** (`fhir_sekmet` runs this): `_lastUpdated`
//! search with `ge`/`le` prefixes, `_sort=_lastUpdated`, `_count`, and type history for
//! deletions.
//!
//! **Polling it with Courier's `source = "changes"`** (`sekmet_smoke` runs this). `_lastUpdated`
//! search cannot be used there: a changes feed sends `{since_param}={cursor}` without a `ge`
//! prefix, which is an exact match. Type history works: `changes_path = "/Appointment/_history"`,
//! `since_param = "_since"`, `initial_cursor = "0"`, `items_pointer = "/entry"`, `key_pointer =
//! "/fullUrl"` (the only id a DELETE entry has), `version_pointer = "/response/etag"`,
//! `cursor_pointer = "/response/lastModified"`, `page_size_param = "_count"`, `page_size =
//! 1000`, and an optional enrichment `path = "/{/resource/participant/0/actor/reference}"`.
//! History being newest first, a full page makes the cursor jump past the older changes that
//! did not fit: more than 1000 changes between two polls are not all delivered.

use std::fs::{self, File};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

use super::loopback_http::{self, Reply};
use super::venv::Venv;
use courier_sim::wait::until_blocking;

/// The pinned release, so an upstream change cannot change a verdict without a commit here.
pub const PACKAGE: &str = "sekmet-fhir==0.1.1";

/// Start-up takes about a second; the first start after an install compiles nothing more
/// (pip compiled the bytecode), so this only has to cover a slow machine.
const READY_WITHIN: Duration = Duration::from_secs(30);

/// The SMART client the harness itself uses to write in `Smart` mode, allowed everything.
const HARNESS_CLIENT: &str = "courier-test-harness";

/// Which requests the server accepts (`server_auth.types` holds exactly one scheme).
#[derive(Debug, Clone)]
pub enum SekmetAuth {
    /// Everything is open.
    None,
    /// `Authorization: Bearer <token>` with this static token.
    Bearer {
        /// The one accepted token.
        token: String,
    },
    /// SMART: tokens from `token_url()` for client credentials, scopes enforced.
    Smart {
        /// The client's id.
        client_id: String,
        /// Its secret (client_secret_basic or client_secret_post).
        client_secret: String,
        /// The scopes it may be granted, space-separated, e.g. `system/Appointment.rs`.
        scopes: String,
    },
}

/// How to start the server.
#[derive(Debug, Clone)]
pub struct SekmetOptions {
    /// The accepted requests.
    pub auth: SekmetAuth,
    /// `server_auth.token_lifetime`: seconds a SMART access token is valid.
    pub token_lifetime_secs: u32,
}

impl Default for SekmetOptions {
    fn default() -> Self {
        Self {
            auth: SekmetAuth::None,
            token_lifetime_secs: 3600,
        }
    }
}

/// How a token request authenticates the client.
#[derive(Debug, Clone, Copy)]
pub enum ClientAuth {
    /// `client_secret_basic`: an HTTP Basic header.
    Basic,
    /// `client_secret_post`: `client_id` and `client_secret` in the form.
    Post,
}

/// A running sekmet-fhir; killed when dropped, its log printed if the test failed.
pub struct Sekmet {
    child: Child,
    addr: SocketAddr,
    auth: SekmetAuth,
    /// Secret of [`HARNESS_CLIENT`], registered in `Smart` mode.
    harness_secret: String,
    /// Settings, data and the server's log; removed after the process is killed.
    dir: tempfile::TempDir,
}

impl Sekmet {
    /// Starts a server with `auth` and default options.
    pub fn start(auth: SekmetAuth) -> Sekmet {
        Self::start_with(SekmetOptions {
            auth,
            ..SekmetOptions::default()
        })
    }

    /// Installs sekmet-fhir if needed, starts it and waits until `/metadata` answers.
    pub fn start_with(options: SekmetOptions) -> Sekmet {
        let venv = Venv::of(PACKAGE);
        let dir = tempfile::tempdir().expect("a temporary directory");
        let harness_secret = format!("harness-{:016x}", fastrand::u64(..));
        // The port is free when asked for but may be taken before sekmet binds it: retry.
        for attempt in 1..=3 {
            let addr = free_port();
            let settings = settings(&options, addr, dir.path(), &harness_secret);
            fs::write(
                dir.path().join("settings.yaml"),
                serde_json::to_vec_pretty(&settings).unwrap(),
            )
            .unwrap();
            let mut child = spawn(&venv, addr, dir.path());
            match wait_ready(&mut child, addr, dir.path()) {
                Ok(()) => {
                    return Sekmet {
                        child,
                        addr,
                        auth: options.auth,
                        harness_secret,
                        dir,
                    }
                }
                Err(failure) => {
                    // Errors only mean the process already exited.
                    let _ = child.kill();
                    let _ = child.wait();
                    if attempt == 3 || !failure.contains("address already in use") {
                        panic!("sekmet-fhir did not start: {failure}");
                    }
                }
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// The FHIR base, e.g. `http://127.0.0.1:40123/fhir` (no trailing slash).
    pub fn base_url(&self) -> String {
        format!("http://{}/fhir", self.addr)
    }

    /// The SMART token endpoint (at the server root, not under the FHIR base).
    pub fn token_url(&self) -> String {
        format!("http://{}/auth/token", self.addr)
    }

    /// Creates or replaces `resource` (which has `resourceType` and `id`) with PUT; returns
    /// it as stored, with `meta.versionId` and `meta.lastUpdated`.
    pub fn put(&self, resource: &Value) -> Value {
        let kind = resource["resourceType"].as_str().expect("a resourceType");
        let id = resource["id"].as_str().expect("an id");
        let body = serde_json::to_vec(resource).unwrap();
        let reply = self.send("PUT", &format!("/{kind}/{id}"), Some(&body));
        assert!(
            matches!(reply.status, 200 | 201),
            "PUT {kind}/{id}: {} {}",
            reply.status,
            reply.text()
        );
        reply.json()
    }

    /// Deletes `{kind}/{id}`.
    pub fn delete(&self, kind: &str, id: &str) {
        let reply = self.send("DELETE", &format!("/{kind}/{id}"), None);
        assert_eq!(reply.status, 200, "DELETE {kind}/{id}: {}", reply.text());
    }

    /// GETs `path` (relative to the FHIR base, percent-encoded) with the harness's credentials.
    pub fn get(&self, path: &str) -> Reply {
        self.send("GET", path, None)
    }

    /// A request to `path` (relative to the FHIR base, percent-encoded) with this
    /// `Authorization` header or none: what a client other than the harness gets.
    pub fn request_as(
        &self,
        method: &str,
        path: &str,
        authorization: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        let mut headers = vec![("Content-Type", "application/fhir+json")];
        headers.extend(authorization.map(|value| ("Authorization", value)));
        let body = body.map(|json| serde_json::to_vec(json).unwrap());
        self.request(method, &format!("/fhir{path}"), &headers, body.as_deref())
    }

    /// Asks the token endpoint for a client-credentials token; the reply is the token
    /// endpoint's, refusals included.
    pub fn request_token(
        &self,
        client_id: &str,
        client_secret: &str,
        scope: Option<&str>,
        client_auth: ClientAuth,
    ) -> Reply {
        let mut form = vec![("grant_type", "client_credentials")];
        form.extend(scope.map(|scope| ("scope", scope)));
        let basic;
        let mut headers = vec![("Content-Type", "application/x-www-form-urlencoded")];
        match client_auth {
            ClientAuth::Basic => {
                basic = format!(
                    "Basic {}",
                    STANDARD.encode(format!("{client_id}:{client_secret}"))
                );
                headers.push(("Authorization", &basic));
            }
            ClientAuth::Post => {
                form.extend([("client_id", client_id), ("client_secret", client_secret)]);
            }
        }
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        self.request("POST", "/auth/token", &headers, Some(body.as_bytes()))
    }

    /// Everything the server logged so far.
    pub fn log_text(&self) -> String {
        read_log(self.dir.path())
    }

    /// The tokens the endpoint granted so far, by its access log: the harness's own (one per
    /// request it sends in `Smart` mode) and those of the clients under test.
    pub fn token_grants(&self) -> usize {
        self.log_text()
            .matches("\"POST /auth/token HTTP/1.1\" 200")
            .count()
    }

    /// A request to `path` (relative to the FHIR base) as the harness: with the static token,
    /// or in `Smart` mode with a fresh token of the harness's own all-scopes client, so a
    /// short token lifetime cannot get in the way.
    fn send(&self, method: &str, path: &str, body: Option<&[u8]>) -> Reply {
        let authorization = match &self.auth {
            SekmetAuth::None => None,
            SekmetAuth::Bearer { token } => Some(format!("Bearer {token}")),
            SekmetAuth::Smart { .. } => {
                let reply = self.request_token(
                    HARNESS_CLIENT,
                    &self.harness_secret,
                    None,
                    ClientAuth::Post,
                );
                assert_eq!(reply.status, 200, "harness token: {}", reply.text());
                let token = reply.json()["access_token"].as_str().unwrap().to_owned();
                Some(format!("Bearer {token}"))
            }
        };
        let mut headers = vec![("Content-Type", "application/fhir+json")];
        headers.extend(
            authorization
                .as_deref()
                .map(|value| ("Authorization", value)),
        );
        self.request(method, &format!("/fhir{path}"), &headers, body)
    }

    fn request(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Reply {
        loopback_http::send(self.addr, method, target, headers, body)
            .unwrap_or_else(|e| panic!("{method} {target}: {e}\n{}", self.log_text()))
    }
}

impl Drop for Sekmet {
    fn drop(&mut self) {
        // Errors only mean the process was already reaped.
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("----- sekmet-fhir log:\n{}", self.log_text());
        }
    }
}

/// Polls `/metadata` until the server on `addr` answers as this one (not another on a
/// reused port); `Err` holds why not and the log.
fn wait_ready(child: &mut Child, addr: SocketAddr, dir: &Path) -> Result<(), String> {
    let base_url = format!("http://{addr}/fhir");
    let answered = until_blocking(READY_WITHIN, Duration::from_millis(50), || {
        if let Some(status) = child.try_wait().expect("waiting for sekmet") {
            return Some(Err(format!("it exited with {status}:\n{}", read_log(dir))));
        }
        let ready =
            loopback_http::send(addr, "GET", "/fhir/metadata", &[], None).is_ok_and(|reply| {
                reply.status == 200 && reply.json()["implementation"]["url"] == base_url.as_str()
            });
        ready.then_some(Ok(()))
    });
    answered.unwrap_or_else(|| {
        Err(format!(
            "no answer within {READY_WITHIN:?}:\n{}",
            read_log(dir)
        ))
    })
}

fn read_log(dir: &Path) -> String {
    fs::read_to_string(dir.join("sekmet.log")).unwrap_or_default()
}

/// A loopback port nothing listens on right now.
fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    listener.local_addr().unwrap()
}

/// The settings file's content for a server on `addr` keeping its data in `dir`.
fn settings(options: &SekmetOptions, addr: SocketAddr, dir: &Path, harness_secret: &str) -> Value {
    let server_auth = match &options.auth {
        SekmetAuth::None => json!({"types": ["none"]}),
        SekmetAuth::Bearer { token } => json!({"types": ["bearer"], "tokens": [token]}),
        SekmetAuth::Smart {
            client_id,
            client_secret,
            scopes,
        } => json!({
            "types": ["smart"],
            "enforce_scopes": true,
            "token_lifetime": options.token_lifetime_secs,
            "smart_clients": [
                {"client_id": client_id, "client_secret": client_secret, "scopes": scopes},
                {"client_id": HARNESS_CLIENT, "client_secret": harness_secret, "scopes": "system/*.*"},
            ],
        }),
    };
    json!({
        "base_url": format!("http://{addr}/fhir"),
        "host": addr.ip().to_string(),
        "port": addr.port(),
        "data_dir": dir.join("data"),
        "own_private_key_path": dir.join("keys").join("sekmet_private.pem"),
        "simulator": {"enabled": false},
        "log_inbound": false,
        "server_auth": server_auth,
    })
}

/// Starts uvicorn on sekmet's app factory, logging to `dir/sekmet.log`.
fn spawn(venv: &Venv, addr: SocketAddr, dir: &Path) -> Child {
    let log = File::create(dir.join("sekmet.log")).expect("the log file");
    Command::new(venv.python())
        .args(["-m", "uvicorn", "--factory", "sekmet.main:app_factory"])
        .args([
            "--host",
            &addr.ip().to_string(),
            "--port",
            &addr.port().to_string(),
        ])
        // `info` keeps the access log, which counts the tokens granted.
        .args(["--log-level", "info"])
        .current_dir(dir)
        .env("SEKMET_CONFIG", dir.join("settings.yaml"))
        .env("PYTHONUNBUFFERED", "1")
        .env_remove("SEKMET_BASE_URL")
        .env_remove("SEKMET_DB")
        .env_remove("SEKMET_PUBLIC_URL")
        .env_remove("SEKMET_PORT")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("the virtualenv's python starts")
}

/// A minimal valid Patient.
pub fn patient(id: &str) -> Value {
    json!({"resourceType": "Patient", "id": id, "name": [{"family": "Test", "given": ["Pat"]}]})
}

/// A minimal valid Appointment of `patient`.
pub fn appointment(id: &str, patient: &str, status: &str) -> Value {
    json!({
        "resourceType": "Appointment", "id": id, "status": status,
        "start": "2030-01-01T09:00:00Z", "end": "2030-01-01T09:30:00Z",
        "participant": [{"actor": {"reference": format!("Patient/{patient}")}, "status": "accepted"}],
    })
}

/// The connection the harness docs recommend for polling sekmet with `source = "changes"`:
/// type history from `_since`, keyed by `fullUrl` because DELETE entries carry no resource.
pub fn history_connection(base_url: &str, auth: &str) -> String {
    format!(
        r#"[connections.sekmet]
destination = "app"
source = "changes"
base_url = {base_url:?}
interval_secs = 0.05
request_timeout_ms = 2000
backoff_min_ms = 20
backoff_max_secs = 0.2
changes_path = "/Appointment/_history"
since_param = "_since"
initial_cursor = "0"
page_size_param = "_count"
page_size = 1000
items_pointer = "/entry"
key_pointer = "/fullUrl"
version_pointer = "/response/etag"
cursor_pointer = "/response/lastModified"
event_type = "appointment.changed"
[[connections.sekmet.enrich]]
name = "patient"
path = "/{{/resource/participant/0/actor/reference}}"
optional = true
{auth}
"#
    )
}
