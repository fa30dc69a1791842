//! A load EHR for benchmarks: a changes feed computed from the request alone (no log to scan,
//! no lock), so it can serve an endless backlog or a steady change rate at tens of thousands
//! of requests a second without becoming the bottleneck it is meant to measure.
//!
//! Routes, under `/api` like [`super::SimEhr`]:
//! - `GET /api/changes?since=<N>&limit=<L>`: items `N+1…` as a JSON array, at most `L` (1000
//!   by default), up to the last change that exists ([`LoadFeed`]). An item looks like
//!   `{"seq": 7, "id": "appt-7", "patientId": "pat-8", "created_us": 1767225600000000}`;
//!   `created_us` is when the change happened (microseconds since the Unix epoch), which the
//!   counting receiver turns into an end-to-end latency.
//! - `GET /api/appointments/{id}` and `GET /api/patients/{id}`: small FHIR-like records padded
//!   to [`LoadEhrOptions::payload_bytes`].
//! - `GET /api/_stats`: requests served so far, `{"feed": n, "details": n, "errors": n}`.
//! - Under `/fhir`, the same changes as a FHIR R4 server: a `_lastUpdated` search of
//!   Appointments, Patient reads and `/metadata` (see [`fhir`]); its searches count as feed
//!   requests, its reads as details.
//!
//! Every request waits [`LoadEhrOptions::latency`] ± [`LoadEhrOptions::jitter`] and fails
//! with a 503 with probability [`LoadEhrOptions::error_rate`].

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::dev::ServerHandle;
use actix_web::http::header::ContentType;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::json;

pub mod fhir;

/// Page size when the request gives no `limit`.
const DEFAULT_LIMIT: u64 = 1000;
/// The largest page served, whatever the request asks for.
const MAX_LIMIT: u64 = 100_000;

/// Which changes exist.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LoadFeed {
    /// Every `seq` exists already: an endless backlog, each page full. `created_us` is the
    /// time the page is served.
    Backlog,
    /// Change `n` happens at `start + n / per_sec`: a steady rate from the server's start.
    Rate {
        /// Changes per second; positive.
        per_sec: f64,
    },
    /// Nothing ever changes: every page is empty.
    Idle,
}

/// What the load EHR serves and how slowly.
#[derive(Debug, Clone)]
pub struct LoadEhrOptions {
    /// Which changes exist.
    pub feed: LoadFeed,
    /// Size of the padding in each detail record, in bytes.
    pub payload_bytes: usize,
    /// Patients the appointments are spread over (`pat-1`…); at least 1.
    pub patients: u64,
    /// Added before every answer.
    pub latency: Duration,
    /// The added latency varies uniformly by up to this much either way.
    pub jitter: Duration,
    /// Fraction of requests answered 503 (0 to 1).
    pub error_rate: f64,
    /// actix-web worker threads.
    pub workers: usize,
}

impl Default for LoadEhrOptions {
    fn default() -> Self {
        Self {
            feed: LoadFeed::Backlog,
            payload_bytes: 256,
            patients: 1000,
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            error_rate: 0.0,
            workers: 1,
        }
    }
}

/// Requests the load EHR has served.
#[derive(Debug, Default)]
struct Counters {
    feed: AtomicU64,
    details: AtomicU64,
    errors: AtomicU64,
}

/// What every handler shares; read-only but for the counters.
#[derive(Debug)]
struct Shared {
    options: LoadEhrOptions,
    /// When change 0 happened, for [`LoadFeed::Rate`].
    start_us: u64,
    /// The padding every detail record carries.
    padding: String,
    counters: Counters,
}

impl Shared {
    /// What the handlers of a load EHR with `options` share, change 0 having happened at
    /// `start_us`.
    fn new(options: LoadEhrOptions, start_us: u64) -> Self {
        Self {
            padding: "x".repeat(options.payload_bytes),
            start_us,
            options,
            counters: Counters::default(),
        }
    }
}

/// A running load EHR. Dropping it stops the server.
#[derive(Debug)]
pub struct LoadEhr {
    addr: SocketAddr,
    server: ServerHandle,
}

impl LoadEhr {
    /// Starts serving on `127.0.0.1` on a free port, on the current actix System.
    pub fn start(options: LoadEhrOptions) -> io::Result<LoadEhr> {
        if let LoadFeed::Rate { per_sec } = options.feed {
            if !(per_sec.is_finite() && per_sec > 0.0) {
                return Err(invalid("a change rate must be positive"));
            }
        }
        if options.patients == 0 || !(0.0..=1.0).contains(&options.error_rate) {
            return Err(invalid("patients must be >= 1 and error_rate within 0..=1"));
        }
        let workers = options.workers.max(1);
        let shared = web::Data::new(Shared::new(options, now_us()));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .service(
                    web::scope("/api")
                        .route("/changes", web::get().to(changes))
                        .route("/appointments/{id}", web::get().to(appointment))
                        .route("/patients/{id}", web::get().to(patient))
                        .route("/_stats", web::get().to(stats)),
                )
                .service(
                    web::scope("/fhir")
                        .route("/metadata", web::get().to(fhir::metadata))
                        .route("/_stats", web::get().to(stats))
                        .route("/Patient/{id}", web::get().to(fhir::patient))
                        .route("/{type}", web::get().to(fhir::search)),
                )
        })
        .workers(workers)
        .backlog(4096)
        .max_connections(100_000)
        .disable_signals()
        .bind(("127.0.0.1", 0))?;
        let (addr, handle) = super::spawn_bound(server.addrs(), server.run())?;
        Ok(LoadEhr {
            addr,
            server: handle,
        })
    }

    /// The base URL a connection is configured with, like `http://127.0.0.1:PORT/api`.
    pub fn base_url(&self) -> String {
        format!("http://{}/api", self.addr)
    }

    /// The base URL of the FHIR flavour, like `http://127.0.0.1:PORT/fhir`.
    pub fn fhir_base_url(&self) -> String {
        format!("http://{}/fhir", self.addr)
    }

    /// Stops the server.
    pub async fn stop(self) {
        self.server.stop(false).await;
    }
}

impl Drop for LoadEhr {
    fn drop(&mut self) {
        drop(self.server.stop(false));
    }
}

fn invalid(reason: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, reason)
}

/// Microseconds since the Unix epoch: the clock both the load EHR and the counting receiver
/// read, so a latency measured across processes on one machine is meaningful.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Waits the configured latency and decides whether this request fails; `None` means answer.
async fn begin(shared: &Shared) -> Option<HttpResponse> {
    let options = &shared.options;
    if !options.latency.is_zero() || !options.jitter.is_zero() {
        let jitter = options.jitter.as_secs_f64() * (fastrand::f64() * 2.0 - 1.0);
        let wait = (options.latency.as_secs_f64() + jitter).max(0.0);
        tokio::time::sleep(Duration::from_secs_f64(wait)).await;
    }
    if options.error_rate > 0.0 && fastrand::f64() < options.error_rate {
        shared.counters.errors.fetch_add(1, Ordering::Relaxed);
        return Some(HttpResponse::ServiceUnavailable().finish());
    }
    None
}

async fn changes(shared: web::Data<Shared>, request: HttpRequest) -> HttpResponse {
    shared.counters.feed.fetch_add(1, Ordering::Relaxed);
    if let Some(failure) = begin(&shared).await {
        return failure;
    }
    let Some((since, limit)) = feed_query(request.query_string()) else {
        return HttpResponse::BadRequest().finish();
    };
    let now = now_us();
    let last = last_change(shared.options.feed, shared.start_us, now);
    let body = feed_page(&shared, since, limit, last, now);
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(body)
}

/// `since` (default 0) and `limit` (default [`DEFAULT_LIMIT`], at most [`MAX_LIMIT`]).
fn feed_query(query: &str) -> Option<(u64, u64)> {
    let (mut since, mut limit) = (0, DEFAULT_LIMIT);
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match name.as_ref() {
            "since" => since = value.parse().ok()?,
            "limit" => limit = value.parse::<u64>().ok()?.min(MAX_LIMIT),
            _ => {}
        }
    }
    Some((since, limit))
}

/// The `seq` of the last change that exists at `now_us`.
fn last_change(feed: LoadFeed, start_us: u64, now_us: u64) -> u64 {
    match feed {
        LoadFeed::Backlog => u64::MAX,
        LoadFeed::Idle => 0,
        LoadFeed::Rate { per_sec } => {
            (now_us.saturating_sub(start_us) as f64 * per_sec / 1e6) as u64
        }
    }
}

/// When change `seq` happened.
fn created_us(shared: &Shared, seq: u64, now: u64) -> u64 {
    match shared.options.feed {
        LoadFeed::Rate { per_sec } => shared.start_us + (seq as f64 * 1e6 / per_sec) as u64,
        LoadFeed::Backlog | LoadFeed::Idle => now,
    }
}

/// The page after `since`: at most `limit` items, none past `last`, written by hand because
/// this is the hottest code of the benchmark's EHR.
fn feed_page(shared: &Shared, since: u64, limit: u64, last: u64, now: u64) -> String {
    let end = since.saturating_add(limit).min(last);
    let count = end.saturating_sub(since);
    let mut body = String::with_capacity(2 + count as usize * 96);
    body.push('[');
    for seq in since + 1..=end {
        if seq > since + 1 {
            body.push(',');
        }
        let patient = seq % shared.options.patients + 1;
        let created = created_us(shared, seq, now);
        body.push_str(&format!(
            r#"{{"seq":{seq},"id":"appt-{seq}","patientId":"pat-{patient}","created_us":{created}}}"#
        ));
    }
    body.push(']');
    body
}

async fn appointment(shared: web::Data<Shared>, id: web::Path<String>) -> HttpResponse {
    detail(&shared, || {
        json!({
            "resourceType": "Appointment",
            "id": id.as_str(),
            "status": "booked",
            "meta": {"versionId": "1"},
            "note": shared.padding,
        })
    })
    .await
}

async fn patient(shared: web::Data<Shared>, id: web::Path<String>) -> HttpResponse {
    detail(&shared, || {
        json!({
            "resourceType": "Patient",
            "id": id.as_str(),
            "name": [{"family": "Testperson", "given": ["Alpha"]}],
            "birthDate": "1970-01-01",
            "note": shared.padding,
        })
    })
    .await
}

async fn detail(shared: &Shared, record: impl FnOnce() -> serde_json::Value) -> HttpResponse {
    shared.counters.details.fetch_add(1, Ordering::Relaxed);
    if let Some(failure) = begin(shared).await {
        return failure;
    }
    HttpResponse::Ok().json(record())
}

async fn stats(shared: web::Data<Shared>) -> HttpResponse {
    let counters = &shared.counters;
    HttpResponse::Ok().json(json!({
        "feed": counters.feed.load(Ordering::Relaxed),
        "details": counters.details.load(Ordering::Relaxed),
        "errors": counters.errors.load(Ordering::Relaxed),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn shared(feed: LoadFeed) -> Shared {
        let options = LoadEhrOptions {
            feed,
            patients: 3,
            payload_bytes: 0,
            ..LoadEhrOptions::default()
        };
        Shared::new(options, 1_000_000)
    }

    fn seqs(body: &str) -> Vec<u64> {
        let page: Vec<Value> = serde_json::from_str(body).unwrap();
        page.iter().map(|i| i["seq"].as_u64().unwrap()).collect()
    }

    #[test]
    fn an_endless_backlog_serves_full_pages_after_since() {
        let shared = shared(LoadFeed::Backlog);
        let last = last_change(LoadFeed::Backlog, shared.start_us, 5);
        let body = feed_page(&shared, 10, 3, last, 5);
        assert_eq!(seqs(&body), [11, 12, 13]);
        let page: Vec<Value> = serde_json::from_str(&body).unwrap();
        assert_eq!(page[0]["id"], "appt-11");
        assert_eq!(page[0]["patientId"], "pat-3");
        assert_eq!(page[0]["created_us"], 5);
    }

    #[test]
    fn a_steady_rate_serves_only_changes_that_happened_and_dates_them() {
        let feed = LoadFeed::Rate { per_sec: 1000.0 };
        let shared = shared(feed);
        // 2.5 ms after the start, changes 1 and 2 exist.
        let now = shared.start_us + 2_500;
        let last = last_change(feed, shared.start_us, now);
        let body = feed_page(&shared, 0, 100, last, now);
        assert_eq!(seqs(&body), [1, 2]);
        let page: Vec<Value> = serde_json::from_str(&body).unwrap();
        assert_eq!(page[1]["created_us"], shared.start_us + 2_000);
        assert_eq!(feed_page(&shared, 2, 100, last, now), "[]");
    }

    #[test]
    fn an_idle_feed_is_always_empty_and_queries_are_read_leniently() {
        let shared = shared(LoadFeed::Idle);
        let last = last_change(LoadFeed::Idle, 0, 99);
        assert_eq!(feed_page(&shared, 0, 10, last, 99), "[]");
        assert_eq!(feed_query("since=5&limit=7&x=1"), Some((5, 7)));
        assert_eq!(feed_query(""), Some((0, DEFAULT_LIMIT)));
        assert_eq!(feed_query("limit=9999999"), Some((0, MAX_LIMIT)));
        assert_eq!(feed_query("since=abc"), None);
    }
}
