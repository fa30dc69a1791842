//! A simulated FHIR R4 server on loopback, controllable from tests: `_lastUpdated` search
//! (or, turned off, only a date search) with offset-based `next` links and a `total`, type history with deletions, `/metadata`, a `Date` header
//! on every answer, writes at chosen instants (a late-committing transaction) with chosen or
//! UUID version ids, a hook between two searches (to update a resource between page 1 and
//! page 2), faulty search and history answers (an `OperationOutcome`, another Bundle type, a
//! status), and history `next` links that drop `_since`, as some servers write them.
//!
//! Routes, under `/fhir`: `GET /metadata`, `GET /{type}`, `GET /{type}/_history`,
//! `GET /{type}/{id}`.

use std::io;
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::fhir_data::FhirData;
pub use super::fhir_data::VersionIds;

/// A wrong answer the next searches give instead of their page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FhirFault {
    /// 200 with an `OperationOutcome` (severity error).
    OperationOutcome,
    /// 200 with a Bundle of type `batch-response`.
    WrongBundleType,
    /// This HTTP status, with an `OperationOutcome`.
    Status(u16),
}

/// History reads a [`SimFhir`] answered, told apart by whether they followed a link.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HistoryReads {
    /// Reads without `_offset`: the first page of a read.
    pub first: u64,
    /// Reads with `_offset`: a `next` link followed.
    pub linked: u64,
}

/// Called before each search is answered, with its 1-based number.
pub type SearchHook = Arc<dyn Fn(u64) + Send + Sync>;

struct FhirState {
    data: FhirData,
    faults: Vec<FhirFault>,
    /// The fault every history read answers while it is set.
    history_fault: Option<FhirFault>,
    searches: u64,
    /// History reads (`GET /{type}/_history`) answered so far: first pages, and links
    /// (those with `_offset`).
    history_reads: HistoryReads,
    reads: u64,
    /// Whether `/metadata` declares `history-type`.
    type_history: bool,
    hook: Option<SearchHook>,
}

/// A handle on the simulated FHIR server's data; cheap to clone, usable from any thread.
#[derive(Clone)]
pub struct FhirControl {
    state: Arc<Mutex<FhirState>>,
}

impl FhirControl {
    fn lock(&self) -> MutexGuard<'_, FhirState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes `resource` (with `resourceType` and `id`) now; returns the stored version.
    pub fn put(&self, resource: &Value) -> Value {
        self.lock().data.put(resource.clone(), now_ms(), None)
    }

    /// Writes `resource` with `meta.lastUpdated` = `at` (RFC 3339), as a transaction that
    /// took its timestamp then and commits now; `version` replaces the next version id.
    ///
    /// # Panics
    /// If `at` is not RFC 3339: a mistake in the calling test.
    pub fn put_at(&self, resource: &Value, at: &str, version: Option<&str>) -> Value {
        let at = DateTime::parse_from_rfc3339(at)
            .unwrap_or_else(|e| panic!("put_at needs RFC 3339, not {at:?}: {e}"))
            .with_timezone(&Utc);
        let version = version.map(str::to_owned);
        self.lock().data.put(resource.clone(), at, version)
    }

    /// Deletes `type_name/id` now.
    pub fn delete(&self, type_name: &str, id: &str) {
        self.lock().data.delete(type_name, id, now_ms());
    }

    /// The next `times` searches answer `fault`.
    pub fn fail_searches(&self, fault: FhirFault, times: usize) {
        self.lock().faults.extend(std::iter::repeat_n(fault, times));
    }

    /// Every history read answers `fault` from now on, or its page again with `None`.
    pub fn set_history_fault(&self, fault: Option<FhirFault>) {
        self.lock().history_fault = fault;
    }

    /// Whether history `next` links leave `_since` out (as sekmet's do), so that following
    /// them pages through the type's whole history.
    pub fn set_history_links_drop_since(&self, drop: bool) {
        self.lock().data.history_links_drop_since = drop;
    }

    /// Whether searches take `_lastUpdated` (they do unless told otherwise); without it a
    /// search that has it answers 400, as a server that searches only by date does.
    pub fn set_last_updated(&self, supported: bool) {
        self.lock().data.last_updated = supported;
    }

    /// History reads answered so far, faults included.
    pub fn history_reads(&self) -> HistoryReads {
        self.lock().history_reads
    }

    /// Caps the `_count` a search honours (1000 unless told otherwise), as real servers do.
    pub fn set_max_count(&self, max: usize) {
        self.lock().data.max_count = max;
    }

    /// Whether `/metadata` declares type-level history (it does unless told otherwise).
    pub fn set_type_history(&self, supported: bool) {
        self.lock().type_history = supported;
    }

    /// Calls `hook` before each search is answered, outside the data lock (so it may write).
    pub fn on_search(&self, hook: impl Fn(u64) + Send + Sync + 'static) {
        self.lock().hook = Some(Arc::new(hook));
    }

    /// Searches answered so far.
    pub fn searches(&self) -> u64 {
        self.lock().searches
    }

    /// Single-resource reads (`GET /{type}/{id}`) answered so far.
    pub fn reads(&self) -> u64 {
        self.lock().reads
    }
}

/// The running server; stops when dropped.
pub struct SimFhir {
    control: FhirControl,
    addr: SocketAddr,
    server: ServerHandle,
}

impl SimFhir {
    /// Starts an empty server on `127.0.0.1` on a free port, on the current actix System.
    pub fn start(version_ids: VersionIds) -> io::Result<SimFhir> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        let addr = listener.local_addr()?;
        let control = FhirControl {
            state: Arc::new(Mutex::new(FhirState {
                data: FhirData::new(format!("http://{addr}/fhir"), version_ids),
                faults: Vec::new(),
                history_fault: None,
                searches: 0,
                history_reads: HistoryReads::default(),
                reads: 0,
                type_history: true,
                hook: None,
            })),
        };
        let data = web::Data::new(control.clone());
        let server = HttpServer::new(move || {
            App::new().app_data(data.clone()).service(
                web::scope("/fhir")
                    .route("/metadata", web::get().to(metadata))
                    .route("/{type}/_history", web::get().to(history))
                    .route("/{type}/{id}", web::get().to(read))
                    .route("/{type}", web::get().to(search)),
            )
        })
        .workers(1)
        .disable_signals()
        .listen(listener)?;
        let (addr, server) = super::spawn_bound(server.addrs(), server.run())?;
        Ok(SimFhir {
            control,
            addr,
            server,
        })
    }

    /// A handle that outlives borrows of the server, for hooks and other threads.
    pub fn clone_control(&self) -> FhirControl {
        self.control.clone()
    }

    /// The FHIR base URL, like `http://127.0.0.1:PORT/fhir`.
    pub fn base_url(&self) -> String {
        format!("http://{}/fhir", self.addr)
    }
}

impl Deref for SimFhir {
    type Target = FhirControl;

    fn deref(&self) -> &FhirControl {
        &self.control
    }
}

impl Drop for SimFhir {
    fn drop(&mut self) {
        drop(self.server.stop(false));
    }
}

/// Now, at the millisecond precision the server stores.
fn now_ms() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
}

fn params(request: &HttpRequest) -> Vec<(String, String)> {
    url::form_urlencoded::parse(request.query_string().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

async fn metadata(control: web::Data<FhirControl>) -> HttpResponse {
    let mut interactions = vec![json!({"code": "read"}), json!({"code": "search-type"})];
    if control.lock().type_history {
        interactions.push(json!({"code": "history-type"}));
    }
    let resources: Vec<Value> = ["Appointment", "Patient", "Location"]
        .iter()
        .map(|t| json!({"type": t, "interaction": interactions}))
        .collect();
    HttpResponse::Ok().json(json!({
        "resourceType": "CapabilityStatement", "fhirVersion": "4.0.1",
        "rest": [{"mode": "server", "resource": resources}]
    }))
}

async fn search(
    control: web::Data<FhirControl>,
    kind: web::Path<String>,
    request: HttpRequest,
) -> HttpResponse {
    let (number, hook) = {
        let mut state = control.lock();
        state.searches += 1;
        (state.searches, state.hook.clone())
    };
    if let Some(hook) = hook {
        hook(number);
    }
    let mut state = control.lock();
    if !state.faults.is_empty() {
        return fault(state.faults.remove(0));
    }
    answer(state.data.search(&kind, &params(&request)))
}

async fn history(
    control: web::Data<FhirControl>,
    kind: web::Path<String>,
    request: HttpRequest,
) -> HttpResponse {
    let params = params(&request);
    let mut state = control.lock();
    match params.iter().any(|(k, _)| k == "_offset") {
        true => state.history_reads.linked += 1,
        false => state.history_reads.first += 1,
    }
    if let Some(fault) = state.history_fault {
        return self::fault(fault);
    }
    answer(state.data.history(&kind, &params))
}

async fn read(control: web::Data<FhirControl>, path: web::Path<(String, String)>) -> HttpResponse {
    let (kind, id) = path.into_inner();
    let mut state = control.lock();
    state.reads += 1;
    match state.data.read(&kind, &id) {
        Ok(Some(resource)) => HttpResponse::Ok().json(resource),
        Ok(None) => outcome(404, "not-found"),
        Err(()) => outcome(410, "deleted"),
    }
}

fn answer(result: Result<Value, String>) -> HttpResponse {
    match result {
        Ok(body) => HttpResponse::Ok().json(body),
        Err(_) => outcome(400, "invalid"),
    }
}

fn fault(fault: FhirFault) -> HttpResponse {
    match fault {
        FhirFault::OperationOutcome => outcome(200, "too-costly"),
        FhirFault::WrongBundleType => HttpResponse::Ok()
            .json(json!({"resourceType": "Bundle", "type": "batch-response", "entry": []})),
        FhirFault::Status(status) => outcome(status, "exception"),
    }
}

fn outcome(status: u16, code: &str) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(status)
        .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(status).json(json!({
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code}]
    }))
}
