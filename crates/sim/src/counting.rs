//! A counting webhook receiver for benchmarks: it verifies each signature and keeps counts,
//! not bodies, so it can take tens of thousands of notifications a second for minutes in a
//! few megabytes.
//!
//! `POST /hooks` takes a notification; `GET /stats` answers the [`TallyReport`] as JSON
//! (with, per connection, when its last notification arrived: the failover benchmark's clock);
//! `POST /stats/reset-latency` starts a new latency window (after a warm-up, say). The
//! latency of a notification is from the `created_us` of its change item (see
//! [`super::load`]), or of its focus resource for a FHIR notification (see its `created` module), to
//! its receipt, on the one clock of the machine.

use std::collections::{BTreeMap, HashSet};
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use actix_web::dev::ServerHandle;
use actix_web::web::{self, Bytes};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer};
use serde::{Deserialize, Serialize};

use super::load::now_us;
use courier_wire::SigningKey;

mod created;

/// Latencies are counted in 1 ms buckets up to this many; longer ones share the last.
const LATENCY_BUCKETS_MS: usize = 600_000;
/// How far a `webhook-timestamp` may be from now.
const TOLERANCE_SECS: i64 = 300;

/// What the receiver has counted; the pure part, tested without a server.
#[derive(Debug)]
pub struct Tally {
    /// Requests answered 2xx.
    accepted: u64,
    /// Requests whose signature did not verify (answered 401).
    unverified: u64,
    /// The 128 bits of each distinct `msg_<hex>` id accepted.
    ids: HashSet<u128>,
    /// Accepted requests whose id had been accepted before.
    duplicates: u64,
    /// When the first and the last notification arrived (µs since the epoch).
    first_us: Option<u64>,
    last_us: Option<u64>,
    /// Notifications per second of arrival (Unix seconds).
    per_second: BTreeMap<u64, u64>,
    /// Latency histogram of the current window, 1 ms buckets.
    latency_ms: Vec<u64>,
    latency_count: u64,
    /// When the last notification of each connection arrived (µs since the epoch).
    last_by_connection: BTreeMap<String, u64>,
}

/// The counts, as `GET /stats` answers them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TallyReport {
    /// Requests answered 2xx.
    pub accepted: u64,
    /// Distinct notification ids accepted.
    pub unique: u64,
    /// Accepted requests whose id had been accepted before.
    pub duplicates: u64,
    /// Requests refused for a bad signature.
    pub unverified: u64,
    /// When the first notification arrived (µs since the epoch).
    pub first_us: Option<u64>,
    /// When the last notification arrived (µs since the epoch).
    pub last_us: Option<u64>,
    /// Latencies counted in the current window.
    pub latency_count: u64,
    /// Median latency of the window, ms.
    pub latency_p50_ms: Option<u64>,
    /// 99th percentile latency of the window, ms.
    pub latency_p99_ms: Option<u64>,
    /// Largest latency of the window, ms.
    pub latency_max_ms: Option<u64>,
    /// Notifications per second, by Unix second, oldest first.
    pub per_second: Vec<(u64, u64)>,
    /// When the last notification of each connection arrived (µs since the epoch).
    #[serde(default)]
    pub last_us_by_connection: BTreeMap<String, u64>,
}

impl Default for Tally {
    fn default() -> Self {
        Self {
            accepted: 0,
            unverified: 0,
            ids: HashSet::new(),
            duplicates: 0,
            first_us: None,
            last_us: None,
            per_second: BTreeMap::new(),
            latency_ms: vec![0; LATENCY_BUCKETS_MS + 1],
            latency_count: 0,
            last_by_connection: BTreeMap::new(),
        }
    }
}

impl Tally {
    /// Counts a verified notification with id `id`, arrived at `at_us`, whose change was
    /// created at `created_us` (when the body said).
    pub fn accept(&mut self, id: &str, at_us: u64, created_us: Option<u64>) {
        self.accepted += 1;
        if !self.ids.insert(id_bits(id)) {
            self.duplicates += 1;
        }
        self.first_us.get_or_insert(at_us);
        self.last_us = Some(at_us);
        *self.per_second.entry(at_us / 1_000_000).or_default() += 1;
        if let Some(created) = created_us {
            let ms = (at_us.saturating_sub(created) / 1000) as usize;
            self.latency_ms[ms.min(LATENCY_BUCKETS_MS)] += 1;
            self.latency_count += 1;
        }
    }

    /// Notes that a verified notification of `connection` arrived at `at_us`.
    pub fn arrived_from(&mut self, connection: &str, at_us: u64) {
        match self.last_by_connection.get_mut(connection) {
            Some(last) => *last = at_us.max(*last),
            None => {
                self.last_by_connection.insert(connection.to_owned(), at_us);
            }
        }
    }

    /// Counts a request whose signature did not verify.
    pub fn refuse(&mut self) {
        self.unverified += 1;
    }

    /// Forgets the latencies counted so far.
    pub fn reset_latency(&mut self) {
        self.latency_ms.iter_mut().for_each(|n| *n = 0);
        self.latency_count = 0;
    }

    /// The counts and the window's percentiles.
    pub fn report(&self) -> TallyReport {
        TallyReport {
            accepted: self.accepted,
            unique: self.ids.len() as u64,
            duplicates: self.duplicates,
            unverified: self.unverified,
            first_us: self.first_us,
            last_us: self.last_us,
            latency_count: self.latency_count,
            latency_p50_ms: self.percentile(0.50),
            latency_p99_ms: self.percentile(0.99),
            latency_max_ms: self
                .latency_ms
                .iter()
                .rposition(|n| *n > 0)
                .map(|i| i as u64),
            per_second: self.per_second.iter().map(|(s, n)| (*s, *n)).collect(),
            last_us_by_connection: self.last_by_connection.clone(),
        }
    }

    /// The smallest latency (ms) at or below which a `fraction` of the window falls.
    fn percentile(&self, fraction: f64) -> Option<u64> {
        if self.latency_count == 0 {
            return None;
        }
        let rank = ((self.latency_count as f64 * fraction).ceil() as u64).max(1);
        let mut seen = 0;
        for (ms, n) in self.latency_ms.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(ms as u64);
            }
        }
        None
    }
}

/// The 128 bits of a `msg_<32 hex>` id, or a hash of any other id.
fn id_bits(id: &str) -> u128 {
    id.strip_prefix("msg_")
        .and_then(|hex| u128::from_str_radix(hex, 16).ok())
        .unwrap_or_else(|| {
            use std::hash::{Hash, Hasher};
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            id.hash(&mut hasher);
            u128::from(hasher.finish())
        })
}

/// What every handler shares.
struct Endpoint {
    key: SigningKey,
    tally: Arc<Mutex<Tally>>,
}

/// A running counting receiver. Dropping it stops the server.
#[derive(Debug)]
pub struct CountingReceiver {
    addr: SocketAddr,
    server: ServerHandle,
}

impl CountingReceiver {
    /// Starts on `127.0.0.1` on a free port with `workers` threads, verifying with `secret`.
    pub fn start(secret: &str, workers: usize) -> io::Result<CountingReceiver> {
        let key = SigningKey::from_secret(secret)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let endpoint = web::Data::new(Endpoint {
            key,
            tally: Arc::default(),
        });
        let server = HttpServer::new(move || {
            App::new()
                .app_data(endpoint.clone())
                .app_data(web::PayloadConfig::new(64 * 1024 * 1024))
                .route("/hooks", web::post().to(hook))
                .route("/stats", web::get().to(stats))
                .route("/stats/reset-latency", web::post().to(reset_latency))
        })
        .workers(workers.max(1))
        .backlog(4096)
        .disable_signals()
        .bind(("127.0.0.1", 0))?;
        let (addr, handle) = super::spawn_bound(server.addrs(), server.run())?;
        Ok(CountingReceiver {
            addr,
            server: handle,
        })
    }

    /// The destination URL, like `http://127.0.0.1:PORT/hooks`.
    pub fn url(&self) -> String {
        format!("http://{}/hooks", self.addr)
    }

    /// Where `GET /stats` is served.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for CountingReceiver {
    fn drop(&mut self) {
        drop(self.server.stop(false));
    }
}

fn lock(tally: &Mutex<Tally>) -> MutexGuard<'_, Tally> {
    tally.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn hook(endpoint: web::Data<Endpoint>, request: HttpRequest, body: Bytes) -> HttpResponse {
    let at = now_us();
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
    };
    let id = header("webhook-id");
    let now = (at / 1_000_000) as i64;
    let verified = endpoint
        .key
        .verify(
            id,
            header("webhook-timestamp"),
            header("webhook-signature"),
            &body,
            now,
            TOLERANCE_SECS,
        )
        .is_ok();
    if !verified {
        lock(&endpoint.tally).refuse();
        return HttpResponse::Unauthorized().finish();
    }
    let facts = created::read(&body);
    let mut tally = lock(&endpoint.tally);
    tally.accept(id, at, facts.created_us);
    if let Some(connection) = &facts.connection {
        tally.arrived_from(connection, at);
    }
    drop(tally);
    HttpResponse::NoContent().finish()
}

async fn stats(endpoint: web::Data<Endpoint>) -> HttpResponse {
    let report = lock(&endpoint.tally).report();
    HttpResponse::Ok().json(report)
}

async fn reset_latency(endpoint: web::Data<Endpoint>) -> HttpResponse {
    lock(&endpoint.tally).reset_latency();
    HttpResponse::NoContent().finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_unique_ids_duplicates_and_refusals() {
        let mut tally = Tally::default();
        tally.accept("msg_00000000000000000000000000000001", 1_000_000, None);
        tally.accept("msg_00000000000000000000000000000002", 1_500_000, None);
        tally.accept("msg_00000000000000000000000000000001", 2_100_000, None);
        tally.refuse();
        let report = tally.report();
        assert_eq!(
            (
                report.accepted,
                report.unique,
                report.duplicates,
                report.unverified
            ),
            (3, 2, 1, 1)
        );
        assert_eq!(
            (report.first_us, report.last_us),
            (Some(1_000_000), Some(2_100_000))
        );
        assert_eq!(report.per_second, [(1, 2), (2, 1)]);
    }

    #[test]
    fn the_last_arrival_of_each_connection_is_kept() {
        let mut tally = Tally::default();
        tally.arrived_from("c00001", 5);
        tally.arrived_from("c00002", 7);
        tally.arrived_from("c00001", 9);
        tally.arrived_from("c00001", 8);
        let report = tally.report();
        let last: Vec<(&str, u64)> = report
            .last_us_by_connection
            .iter()
            .map(|(c, at)| (c.as_str(), *at))
            .collect();
        assert_eq!(last, [("c00001", 9), ("c00002", 7)]);
    }

    #[test]
    fn latency_percentiles_come_from_the_current_window() {
        let mut tally = Tally::default();
        tally.accept("a", 5_000_000, Some(4_000_000));
        tally.reset_latency();
        for ms in 1..=100u64 {
            tally.accept(&format!("id{ms}"), 10_000_000 + ms * 1000, Some(10_000_000));
        }
        let report = tally.report();
        assert_eq!(report.latency_count, 100);
        assert_eq!(report.latency_p50_ms, Some(50));
        assert_eq!(report.latency_p99_ms, Some(99));
        assert_eq!(report.latency_max_ms, Some(100));
    }
}
