//! The schedule over HTTP: `GET /api/schedule`, a window of appointments paged by offset or by
//! link, the schedule's answer to `GET /api/appointments/{id}`, and [`ScheduleControl`], the
//! handle tests use to change the schedule, switch paging to inconsistent and fail pages.
//!
//! `GET /api/schedule?from=<t>&to=<t>&offset=<n>&limit=<n>` answers
//! `{"total": N, "items": [...], "next": "<url>" | null}`: the appointments whose `start` is in
//! `[from, to)` (RFC 3339 or `YYYY-MM-DD`; either may be left out), ordered by start then id
//! number. `limit` defaults to 100 (at most 10,000), `offset` to 0. `next` is the full URL of
//! the next page: `…/schedule?cursor=v7-500&limit=500` in consistent mode (the cursor pins the
//! listing's snapshot), `…/schedule?from=…&to=…&offset=500&limit=500` in inconsistent mode. An
//! expired cursor, or an unreadable parameter, is a 400.
//!
//! `GET /api/schedule/{id}` answers one record as listed (404, or 410 if a test chose it, once
//! deleted); `GET /api/appointments/{id}` does too for an id the schedule knows, else it answers
//! the changes feed's record of that id. Both count as [`Route::Details`].

use std::collections::{HashMap, VecDeque};

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Duration as TimeDelta, SecondsFormat, Utc};
use serde_json::{json, Value};

use super::ehr::{self, EhrControl};
use super::faults::{self, Fault, Route};
use super::schedule::{parse_time, Lookup, Next, Page, PageQuery, Schedule};

/// Records per page when the request gives no `limit`.
const DEFAULT_LIMIT: usize = 100;
/// A larger `limit` is refused, as real APIs cap their pages.
const LIMIT_AT_MOST: usize = 10_000;

/// The schedule and what its routes are told to do, inside the simulated EHR's state.
#[derive(Debug)]
pub(crate) struct ScheduleState {
    schedule: Schedule,
    /// Faults queued per page number (1-based: `offset / limit + 1`).
    page_faults: HashMap<usize, VecDeque<Fault>>,
    /// The status of a read by id of a deleted appointment: 404 or 410.
    gone_status: u16,
}

impl ScheduleState {
    /// An empty schedule whose appointments name `patients` patients.
    pub(crate) fn new(patients: usize, seed: u64) -> Self {
        Self {
            schedule: Schedule::new(patients, seed),
            page_faults: HashMap::new(),
            gone_status: 404,
        }
    }

    /// The answer of `GET /api/appointments/{id}` when the schedule knows `id` (it shadows a
    /// changes-feed appointment of the same id); `None` otherwise.
    pub(crate) fn read(&self, id: &str) -> Option<Result<Value, HttpResponse>> {
        match self.schedule.record(id, Utc::now()) {
            Lookup::Found(record) => Some(Ok(record)),
            Lookup::Deleted => Some(Err(faults::error(self.gone_status))),
            Lookup::Unknown => None,
        }
    }

    /// One change of the demo's ticker, when the schedule has appointments.
    pub(crate) fn change_if_any(&mut self) {
        if self.schedule.len() > 0 {
            self.schedule.change_random(Utc::now());
        }
    }
}

/// A handle on the simulated EHR's schedule, from [`EhrControl::schedule`]; cheap to clone and
/// usable from any thread. Methods that name an appointment panic when it does not exist (or
/// was deleted): that is a mistake in the calling test.
#[derive(Debug, Clone)]
pub struct ScheduleControl {
    ehr: EhrControl,
}

impl EhrControl {
    /// The schedule that `GET /api/schedule` lists; empty until a test fills it.
    pub fn schedule(&self) -> ScheduleControl {
        ScheduleControl { ehr: self.clone() }
    }
}

impl ScheduleControl {
    /// Adds `count` booked appointments spread over `[now + from, now + to)`, on a 5-minute
    /// grid (so starts tie), 15 to 60 minutes long: the benchmark's 100,000-record window.
    pub fn generate(&self, count: usize, from: TimeDelta, to: TimeDelta) {
        let now = Utc::now();
        self.with(|s| s.schedule.generate(count, now + from, now + to));
    }

    /// Adds a booked appointment at `start`, 30 minutes long; returns its id.
    pub fn add(&self, start: DateTime<Utc>) -> String {
        self.with(|s| s.schedule.add(start, 30))
    }

    /// Moves an appointment to `start`, keeping its length.
    pub fn reschedule(&self, id: &str, start: DateTime<Utc>) {
        self.expect(id, |s| s.reschedule(id, start));
    }

    /// Sets an appointment's status to `cancelled`; it stays listed.
    pub fn cancel(&self, id: &str) {
        self.set_status(id, "cancelled");
    }

    /// Sets an appointment's status: `booked`, `arrived`, `fulfilled`, `noshow`, `cancelled`.
    pub fn set_status(&self, id: &str, status: &str) {
        self.expect(id, |s| s.set_status(id, status));
    }

    /// Deletes an appointment: gone from listings, and a read by id answers 404 (or 410).
    pub fn delete(&self, id: &str) {
        self.expect(id, |s| s.delete(id));
    }

    /// Bumps the appointment's `reminders` only, a field a `compare` list leaves out.
    pub fn touch_noise(&self, id: &str) {
        self.expect(id, |s| s.touch_noise(id));
    }

    /// Moves every appointment by `delta` (negative: earlier), as if the data's clock moved.
    pub fn shift(&self, delta: TimeDelta) {
        self.with(|s| s.schedule.shift(delta));
    }

    /// Changes `percent`% of the appointments (status or start); returns how many changed.
    pub fn change_percent(&self, percent: f64) -> usize {
        self.with(|s| s.schedule.change_percent(percent))
    }

    /// One random change (created, rescheduled, cancelled or deleted); returns its kind.
    pub fn change_random(&self) -> &'static str {
        self.with(|s| s.schedule.change_random(Utc::now()))
    }

    /// Appointments that exist (deleted ones excluded).
    pub fn len(&self) -> usize {
        self.with(|s| s.schedule.len())
    }

    /// Whether the schedule has no appointment.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The appointment as a read by id shows it; `None` once deleted or never created.
    pub fn record(&self, id: &str) -> Option<Value> {
        match self.with(|s| s.schedule.record(id, Utc::now())) {
            Lookup::Found(record) => Some(record),
            Lookup::Deleted | Lookup::Unknown => None,
        }
    }

    /// `true` (the default): each listing's pages come from one snapshot. `false`: pages are
    /// cut from the live data by offset, so a change between two pages skips or repeats one.
    pub fn set_consistent(&self, consistent: bool) {
        self.with(|s| s.schedule.set_consistent(consistent));
    }

    /// Makes the next `times` requests of page `page` (1-based, `offset / limit + 1`) suffer
    /// `fault`, whichever listing they belong to: a 500 on page 2, a garbled page 3. A fault
    /// queued with [`EhrControl::inject`] on [`Route::Listing`] goes first.
    pub fn fail_page(&self, page: usize, fault: Fault, times: usize) {
        self.with(|s| {
            let queue = s.page_faults.entry(page).or_default();
            queue.extend(std::iter::repeat_n(fault, times));
        });
    }

    /// The status a read by id of a deleted appointment answers: 404 (the default) or 410.
    pub fn set_gone_status(&self, status: u16) {
        self.with(|s| s.gone_status = status);
    }

    /// Requests received by `GET /api/schedule`, faulted or not.
    pub fn requests(&self) -> u64 {
        self.ehr.requests(Route::Listing)
    }

    fn with<R>(&self, f: impl FnOnce(&mut ScheduleState) -> R) -> R {
        self.ehr.with_schedule(f)
    }

    fn expect(&self, id: &str, change: impl FnOnce(&mut Schedule) -> bool) {
        assert!(
            self.with(|s| change(&mut s.schedule)),
            "sim schedule has no appointment {id}"
        );
    }
}

/// `GET /api/schedule`.
pub(crate) async fn schedule(control: web::Data<EhrControl>, request: HttpRequest) -> HttpResponse {
    let fault = control.begin(Route::Listing).await;
    let query = read_query(request.query_string());
    let page_fault = match (&fault, &query) {
        (None, Ok(query)) => {
            let number = query.offset / query.limit + 1;
            control.with_schedule(|s| s.page_faults.get_mut(&number)?.pop_front())
        }
        _ => None,
    };
    if let Some(Fault::Hang(hang)) = &page_fault {
        tokio::time::sleep(*hang).await;
    }
    let normal = match query {
        Err(reason) => Err(bad_request(reason)),
        Ok(query) => match control.with_schedule(|s| s.schedule.page(&query, Utc::now())) {
            Ok(page) => Ok(body(&request, &query, page)),
            Err(reason) => Err(bad_request(reason)),
        },
    };
    ehr::finish(Route::Listing, fault.or(page_fault), &request, normal)
}

/// `GET /api/schedule/{id}`: the record as listed, 404 (or 410) once deleted, 404 for an id
/// the schedule never had. Unlike `GET /api/appointments/{id}`, never a changes-feed record.
pub(crate) async fn scheduled(
    control: web::Data<EhrControl>,
    id: web::Path<String>,
    request: HttpRequest,
) -> HttpResponse {
    let fault = control.begin(Route::Details).await;
    let record = match control.with_schedule(|s| s.read(&id)) {
        Some(answer) => answer,
        None => Err(faults::error(404)),
    };
    ehr::finish(Route::Details, fault, &request, record)
}

/// Reads `from`, `to`, `offset`, `limit` and `cursor`; `Err` says which is unreadable.
fn read_query(text: &str) -> Result<PageQuery, &'static str> {
    let params = web::Query::<HashMap<String, String>>::from_query(text)
        .map_err(|_| "the query string is malformed")?;
    let time = |key: &str, reason| params.get(key).map(|t| parse_time(t).ok_or(reason));
    let number = |key: &str, default: usize, reason| {
        params
            .get(key)
            .map_or(Ok(default), |n| n.parse::<usize>().map_err(|_| reason))
    };
    let limit = number("limit", DEFAULT_LIMIT, "limit must be a whole number")?;
    if !(1..=LIMIT_AT_MOST).contains(&limit) {
        return Err("limit must be from 1 to 10000");
    }
    let mut query = PageQuery {
        from: time("from", "from must be RFC 3339 or YYYY-MM-DD").transpose()?,
        to: time("to", "to must be RFC 3339 or YYYY-MM-DD").transpose()?,
        offset: number("offset", 0, "offset must be a whole number")?,
        limit,
        version: None,
    };
    if let Some(cursor) = params.get("cursor") {
        let (version, offset) = cursor
            .strip_prefix('v')
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(v, o)| Some((v.parse().ok()?, o.parse().ok()?)))
            .ok_or("the cursor is not one this server handed out")?;
        query.version = Some(version);
        query.offset = offset;
    }
    Ok(query)
}

/// The page's JSON, with the full URL of the next page.
fn body(request: &HttpRequest, query: &PageQuery, page: Page) -> Value {
    let next = page.next.map(|next| {
        let mut params = url::form_urlencoded::Serializer::new(String::new());
        match next {
            Next::Pinned { version, offset } => {
                params.append_pair("cursor", &format!("v{version}-{offset}"));
            }
            Next::Live { offset } => {
                let bounds = [("from", query.from), ("to", query.to)];
                for (key, at) in bounds.iter().filter_map(|(k, at)| Some((k, (*at)?))) {
                    params.append_pair(key, &rfc3339(at));
                }
                params.append_pair("offset", &offset.to_string());
            }
        }
        params.append_pair("limit", &query.limit.to_string());
        let info = request.connection_info();
        let (scheme, host) = (info.scheme(), info.host());
        format!("{scheme}://{host}{}?{}", request.path(), params.finish())
    });
    json!({"total": page.total, "items": page.items, "next": next})
}

fn rfc3339(unix: i64) -> String {
    DateTime::from_timestamp(unix, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn bad_request(reason: &str) -> HttpResponse {
    HttpResponse::BadRequest().json(json!({"error": reason, "status": 400}))
}

#[cfg(test)]
#[path = "listing_tests.rs"]
mod tests;
