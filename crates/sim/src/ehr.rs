//! The simulated EHR: a real HTTP server on loopback with a changes feed and FHIR-like records,
//! whose data tests change on demand and whose faults tests inject, so Courier is exercised
//! over the network exactly as it is against a real EHR.
//!
//! Routes, under `/api`:
//! - `GET /api/appointments/changed?since=<S>&limit=<L>`: the changes log as a JSON array in
//!   ascending `seq`, at most `L` items (default 1000). An integer `S` selects items with
//!   `seq > S`; an RFC 3339 `S` selects items with `ts >= S` (inclusive, like many real feeds,
//!   so a reader must drop the ties it has seen). Items look like
//!   `{"seq": 7, "id": "appt-3", "patientId": "pat-2", "ts": "2030-01-01T08:00:00.123Z",
//!   "action": "updated"}`, where `action` is `created`, `updated`, `cancelled` or `rescheduled`.
//! - `GET /api/appointments/changed-once`: the consume-once feed ([`super::consume`]).
//! - `GET /api/appointments/{id}` and `GET /api/patients/{id}`: minimal FHIR resources, or 404
//!   with an `OperationOutcome`. An id the schedule knows answers its schedule record (404 or
//!   410 once deleted) instead.
//! - `GET /api/schedule?from=…&to=…&offset=…&limit=…`: the schedule, a windowed listing, and
//!   `GET /api/schedule/{id}`, one of its records (see [`listing`](super::listing)).
//!
//! Every response carries a `Date` header (actix-web adds it), which a timestamp cursor can use
//! to reason about the EHR's clock. The sim logs nothing per request: even fake records should
//! not teach anyone that logging them is fine. (actix itself logs one `error` line, with no
//! body in it, when [`Fault::HalfBody`] breaks a response off.)
//!
//! Tests queue [`Fault`]s per route with [`EhrControl::inject`], and can look at the client
//! between two requests with [`EhrControl::on_request`].

use std::collections::{BTreeSet, HashMap};
use std::io;
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use actix_rt::task::JoinHandle;
use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::consume::{changed_once, ConsumeFeed};
use super::faults::{self, Fault, FaultQueues, Route};
use super::listing::{self, ScheduleState};
use super::records::{Records, Since};

/// Page size when the request gives no `limit`, as many real feeds do.
const DEFAULT_LIMIT: usize = 1000;

/// What the simulated EHR holds and does on its own.
#[derive(Debug, Clone)]
pub struct SimEhrOptions {
    /// Patients `pat-1`…`pat-N`; at least 1, since every appointment has a patient.
    pub patients: usize,
    /// Appointments `appt-1`…`appt-N`, which exist before the changes log starts.
    pub appointments: usize,
    /// Changes logged before the server starts (one second apart, ending now), so the first
    /// poll has a backlog to page through.
    pub initial_changes: usize,
    /// Touch a random appointment this often, so `courier demo` shows a steady stream.
    pub change_every: Option<Duration>,
    /// Seed of the generated data and of the random touches, so runs are reproducible.
    pub seed: u64,
}

impl Default for SimEhrOptions {
    fn default() -> Self {
        Self {
            patients: 10,
            appointments: 20,
            initial_changes: 0,
            change_every: None,
            seed: 1,
        }
    }
}

/// Called at the start of every request with its route and its 1-based number on that route;
/// see [`EhrControl::on_request`].
pub type RequestObserver = Arc<dyn Fn(Route, u64) + Send + Sync>;

/// Everything the server's handlers and the tests share.
#[derive(Debug)]
struct EhrState {
    records: Records,
    faults: FaultQueues,
    /// Added before every answer, faulted or not.
    latency: Duration,
    /// Told about every request before it is answered.
    observer: Option<Observer>,
    /// Suffered by every request that has no queued fault, until cleared: an outage.
    outage: Option<Fault>,
    /// The feed answers from the start of the log whatever `since` says.
    ignore_since: bool,
    /// The consume-once feed (see [`super::consume`]).
    consume: ConsumeFeed,
    /// The windowed listing's appointments (see [`listing`]).
    schedule: ScheduleState,
}

/// A [`RequestObserver`] that `EhrState` can derive `Debug` with.
#[derive(Clone)]
struct Observer(RequestObserver);

impl std::fmt::Debug for Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Observer")
    }
}

/// A handle on the simulated EHR's data and faults; cheap to clone and usable from any thread,
/// so a test can change records while Courier polls.
#[derive(Debug, Clone)]
pub struct EhrControl {
    state: Arc<Mutex<EhrState>>,
}

impl EhrControl {
    /// Writes `marker` into every patient's names and identifier (see
    /// [`Records::mark_phi`](super::records::Records::mark_phi)).
    pub fn mark_phi(&self, marker: &str) {
        self.lock().records.mark_phi(marker);
    }

    /// Changes an appointment now and returns the `seq` of its change entry.
    ///
    /// # Panics
    /// If the appointment does not exist: that is a mistake in the calling test.
    pub fn touch(&self, appointment_id: &str) -> u64 {
        self.lock()
            .records
            .touch(appointment_id, None)
            .unwrap_or_else(|| panic!("sim EHR has no appointment {appointment_id}"))
    }

    /// Changes `appt-1` to `appt-{count}` once each; the (id, version) pairs a receiver
    /// should get for them (see [`ReceiverControl::delivered_of`](super::ReceiverControl)).
    pub fn touch_each(&self, count: usize) -> BTreeSet<(String, String)> {
        (1..=count)
            .map(|n| {
                let id = format!("appt-{n}");
                let seq = self.touch(&id);
                (id, seq.to_string())
            })
            .collect()
    }

    /// Changes an appointment with an explicit change timestamp, so a test can make several
    /// changes share one `ts` (ties) or put one in the past. Returns the `seq`.
    ///
    /// # Panics
    /// If `ts` is not RFC 3339 or the appointment does not exist.
    pub fn touch_at(&self, appointment_id: &str, ts: &str) -> u64 {
        let at = DateTime::parse_from_rfc3339(ts)
            .unwrap_or_else(|e| panic!("touch_at needs an RFC 3339 time, not {ts:?}: {e}"));
        self.lock()
            .records
            .touch(appointment_id, Some(at.with_timezone(&Utc)))
            .unwrap_or_else(|| panic!("sim EHR has no appointment {appointment_id}"))
    }

    /// Changes a random appointment now and returns the `seq`.
    pub fn touch_random(&self) -> u64 {
        self.lock().records.touch_random(None)
    }

    /// Creates an appointment (a change, logged like any other) and returns its id.
    pub fn add_appointment(&self) -> String {
        self.lock().records.add_appointment()
    }

    /// Entries in the changes log, which is also the latest `seq`: how many notifications a
    /// complete run must produce.
    pub fn change_count(&self) -> u64 {
        self.lock().records.change_count()
    }

    /// Appointments that exist, `appt-1`…`appt-N`, so a test can pick valid ids.
    pub fn appointment_count(&self) -> usize {
        self.lock().records.appointment_count()
    }

    /// The current `meta.versionId` of an appointment.
    pub fn version(&self, appointment_id: &str) -> Option<u64> {
        self.lock().records.version(appointment_id)
    }

    /// Makes the next `times` requests of `route` suffer `fault`, after faults already queued.
    pub fn inject(&self, route: Route, fault: Fault, times: usize) {
        self.lock().faults.inject(route, fault, times);
    }

    /// Makes every request of every route suffer `fault` (after any queued faults) until
    /// called again with `None`: an outage of a given length rather than of a given number of
    /// requests, such as an EHR answering 503 for 30 seconds.
    pub fn set_outage(&self, fault: Option<Fault>) {
        self.lock().outage = fault;
    }

    /// Makes the feed answer from the start of its log whatever `since` says (still honouring
    /// `limit`), as a feed that ignores the cursor parameter does, until called with `false`.
    pub fn set_ignore_since(&self, ignore: bool) {
        self.lock().ignore_since = ignore;
    }

    /// Faults queued for `route` that no request has consumed yet.
    pub fn pending_faults(&self, route: Route) -> usize {
        self.lock().faults.pending(route)
    }

    /// Requests received on `route`, so a test can check that Courier backed off or retried.
    pub fn requests(&self, route: Route) -> u64 {
        self.lock().faults.requests(route)
    }

    /// Adds `latency` before every answer, to simulate a slow EHR.
    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    /// Calls `observer` at the start of every request with its route and its number on that
    /// route (1-based, as [`EhrControl::requests`] counts), after its fault is chosen and
    /// before anything is sent. It runs on the server's thread, outside the sim's lock, so it
    /// may use this control (to touch records, say). A test uses it to look at the client
    /// between two requests: whatever the client did about request N-1 is done by the time
    /// request N arrives. Replaces any earlier observer.
    pub fn on_request(&self, observer: impl Fn(Route, u64) + Send + Sync + 'static) {
        self.lock().observer = Some(Observer(Arc::new(observer)));
    }

    /// Runs `f` on the chart (appointments, patients, the changes log), under the sim's lock.
    pub(crate) fn with_records<T>(&self, f: impl FnOnce(&mut Records) -> T) -> T {
        f(&mut self.lock().records)
    }

    /// Runs `f` on the consume-once feed and the records it hands out, under the sim's lock.
    pub(crate) fn with_consume<T>(&self, f: impl FnOnce(&mut ConsumeFeed, &Records) -> T) -> T {
        let mut state = self.lock();
        let state = &mut *state;
        f(&mut state.consume, &state.records)
    }

    /// A poisoned lock only means a test thread panicked mid-call; the data is still usable
    /// and the panic is reported by that test, so carry on rather than cascade.
    fn lock(&self) -> MutexGuard<'_, EhrState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the schedule under the sim's lock.
    pub(crate) fn with_schedule<R>(&self, f: impl FnOnce(&mut ScheduleState) -> R) -> R {
        f(&mut self.lock().schedule)
    }

    /// Counts the request, tells the observer, applies latency and any hang, and returns the
    /// fault to apply.
    pub(crate) async fn begin(&self, route: Route) -> Option<Fault> {
        let (fault, latency, number, observer) = {
            let mut state = self.lock();
            let fault = state.faults.next(route).or_else(|| state.outage.clone());
            let number = state.faults.requests(route);
            (fault, state.latency, number, state.observer.clone())
        };
        if let Some(Observer(observer)) = observer {
            observer(route, number);
        }
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        if let Some(Fault::Hang(hang)) = fault {
            tokio::time::sleep(hang).await;
        }
        fault
    }
}

/// A running simulated EHR; dereferences to its [`EhrControl`]. Dropping it stops the server.
#[derive(Debug)]
pub struct SimEhr {
    control: EhrControl,
    addr: SocketAddr,
    server: ServerHandle,
    /// The background toucher of [`SimEhrOptions::change_every`].
    ticker: Option<JoinHandle<()>>,
}

impl SimEhr {
    /// Generates the data and starts serving on `127.0.0.1` on a free port, on the current
    /// actix System (so it must be called from within one). Fails with `InvalidInput` for
    /// options it cannot honour (no patients, a zero `change_every`).
    pub fn start(options: SimEhrOptions) -> io::Result<SimEhr> {
        if options.patients == 0 {
            return Err(invalid("the sim EHR needs at least one patient"));
        }
        if options.change_every == Some(Duration::ZERO) {
            return Err(invalid("change_every must be longer than zero"));
        }
        let mut records = Records::generate(options.patients, options.appointments, options.seed);
        records.backlog(options.initial_changes, Utc::now());
        let control = EhrControl {
            state: Arc::new(Mutex::new(EhrState {
                records,
                faults: FaultQueues::default(),
                latency: Duration::ZERO,
                observer: None,
                outage: None,
                ignore_since: false,
                consume: ConsumeFeed::default(),
                schedule: ScheduleState::new(options.patients, options.seed),
            })),
        };
        let data = web::Data::new(control.clone());
        let server = HttpServer::new(move || {
            App::new().app_data(data.clone()).service(
                web::scope("/api")
                    .route("/appointments/changed", web::get().to(changed))
                    .route("/appointments/changed-once", web::get().to(changed_once))
                    .route("/schedule", web::get().to(listing::schedule))
                    .route("/schedule/{id}", web::get().to(listing::scheduled))
                    .route("/appointments/{id}", web::get().to(appointment))
                    .route("/patients/{id}", web::get().to(patient)),
            )
        })
        .workers(1)
        // The owner decides when the sim stops; Ctrl-C belongs to the process, not to us.
        .disable_signals()
        .bind(("127.0.0.1", 0))?;
        let (addr, handle) = super::spawn_bound(server.addrs(), server.run())?;
        let ticker = options
            .change_every
            .map(|every| actix_rt::spawn(touch_periodically(control.clone(), every)));
        Ok(SimEhr {
            control,
            addr,
            server: handle,
            ticker,
        })
    }

    /// The base URL a connection is configured with, like `http://127.0.0.1:PORT/api`.
    pub fn base_url(&self) -> String {
        format!("http://{}/api", self.addr)
    }

    /// A handle that outlives borrows of the server, for other threads and tasks.
    pub fn control(&self) -> EhrControl {
        self.control.clone()
    }

    /// Stops the background toucher and the server; requests in flight are dropped, since the
    /// sim has nothing worth finishing.
    pub async fn stop(mut self) {
        if let Some(ticker) = self.ticker.take() {
            ticker.abort();
        }
        self.server.stop(false).await;
    }
}

impl Deref for SimEhr {
    type Target = EhrControl;

    fn deref(&self) -> &EhrControl {
        &self.control
    }
}

impl Drop for SimEhr {
    fn drop(&mut self) {
        if let Some(ticker) = self.ticker.take() {
            ticker.abort();
        }
        // Sending the command is synchronous; a test that panics still frees its port.
        drop(self.server.stop(false));
    }
}

fn invalid(reason: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, reason)
}

async fn touch_periodically(control: EhrControl, every: Duration) {
    let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        control.touch_random();
        control.with_schedule(ScheduleState::change_if_any);
    }
}

async fn changed(control: web::Data<EhrControl>, request: HttpRequest) -> HttpResponse {
    let fault = control.begin(Route::Feed).await;
    let page = feed_page(&control, request.query_string()).map_err(bad_request);
    finish(Route::Feed, fault, &request, page)
}

async fn appointment(
    control: web::Data<EhrControl>,
    id: web::Path<String>,
    request: HttpRequest,
) -> HttpResponse {
    let fault = control.begin(Route::Details).await;
    let record = {
        let state = control.lock();
        match state.schedule.read(&id) {
            Some(answer) => answer,
            None => state.records.appointment(&id).ok_or_else(|| not_found(&id)),
        }
    };
    finish(Route::Details, fault, &request, record)
}

async fn patient(
    control: web::Data<EhrControl>,
    id: web::Path<String>,
    request: HttpRequest,
) -> HttpResponse {
    let fault = control.begin(Route::Details).await;
    let record = control.lock().records.patient(&id);
    finish(
        Route::Details,
        fault,
        &request,
        record.ok_or_else(|| not_found(&id)),
    )
}

/// Reads `since` and `limit` and returns the page, or why the query is refused (a 400).
fn feed_page(control: &EhrControl, query: &str) -> Result<Value, &'static str> {
    let params = web::Query::<HashMap<String, String>>::from_query(query)
        .map_err(|_| "the query string is malformed")?;
    let since = match params.get("since") {
        None => None,
        Some(value) => Some(
            Since::parse(value)
                .ok_or("since must be an integer sequence number or an RFC 3339 time")?,
        ),
    };
    let limit = match params.get("limit") {
        None => DEFAULT_LIMIT,
        Some(value) => value
            .parse()
            .map_err(|_| "limit must be a non-negative integer")?,
    };
    let state = control.lock();
    let since = since.filter(|_| !state.ignore_since);
    Ok(Value::Array(state.records.changed(since, limit)))
}

/// The answer of a request of `route`: `normal`, or what `fault` makes of it.
pub(crate) fn finish(
    route: Route,
    fault: Option<Fault>,
    request: &HttpRequest,
    normal: Result<Value, HttpResponse>,
) -> HttpResponse {
    match (fault, normal) {
        (Some(fault), normal) => faults::answer(route, fault, &request.uri().to_string(), normal),
        (None, Ok(body)) => HttpResponse::Ok().json(body),
        (None, Err(response)) => response,
    }
}

fn not_found(id: &str) -> HttpResponse {
    HttpResponse::NotFound().json(json!({
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "not-found", "diagnostics": format!("no resource {id}")}],
    }))
}

fn bad_request(reason: &str) -> HttpResponse {
    HttpResponse::BadRequest().json(json!({
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "invalid", "diagnostics": reason}],
    }))
}
