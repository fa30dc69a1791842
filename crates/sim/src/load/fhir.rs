//! The load EHR's FHIR flavour: the same changes (backlog, steady rate, idle) served as a FHIR
//! R4 `_lastUpdated` search, computed from the request like the changes feed, so Courier's
//! FHIR source can be measured as its changes-feed source is.
//!
//! Routes, under `/fhir`:
//! - `GET /fhir/Appointment?_lastUpdated=ge…&_lastUpdated=le…&_sort=_lastUpdated&_count=N`: a
//!   `searchset` Bundle of the appointments last updated within the bounds (`ge`/`gt` below,
//!   `le`/`lt` above), oldest first, at most `N` (100 by default). Change `n` is
//!   `Appointment/a-n` at version 1, with a `participant.actor` reference to `Patient/p-…`, a
//!   `comment` padded to the payload size, and the change's `created_us` in the extension
//!   [`CREATED_US_URL`] (`valueDecimal`), where the counting receiver finds it in the
//!   notification's `data.resources`. No `next` link: Courier pages by keyset.
//! - `GET /fhir/Patient/{id}`: a patient whose narrative is padded to the payload size.
//! - `GET /fhir/metadata`: a CapabilityStatement (Appointment search, Patient read).
//!
//! Every answer carries a `Date` header read from the clock at the moment the page was
//! computed (not actix's cached one), because Courier's FHIR source searches only up to that
//! `Date` minus its `lag_secs`.
//!
//! # Time
//! - **Backlog**: change `n` was last updated at [`BACKLOG_EPOCH_US`] + `n` ms (2020), older
//!   than any search's upper bound, one change per millisecond; its `created_us` is the moment
//!   the page is served, as in the changes feed.
//! - **Rate**: change `n` was last updated when it happened (to the millisecond), and that is
//!   its `created_us`. Courier sees it once `Date − lag_secs` has passed it, and `Date` is whole
//!   seconds: a steady-rate latency includes `lag_secs` and up to 1 s of `Date` granularity on
//!   top of the poll interval. It is the latency a FHIR user gets, so it is not subtracted.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::{Duration, UNIX_EPOCH};

use actix_web::http::header::{self, HttpDate};
use actix_web::{web, HttpRequest, HttpResponse, HttpResponseBuilder};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;

use super::{begin, created_us, last_change, now_us, LoadEhrOptions, LoadFeed, Shared, MAX_LIMIT};

/// The extension of an appointment that holds its change's `created_us`.
pub const CREATED_US_URL: &str = "urn:courier:bench:created-us";
/// When backlog change 0 was last updated: 2020-01-01T00:00:00Z.
const BACKLOG_EPOCH_US: u64 = 1_577_836_800_000_000;
/// `_count` when the search gives none.
const DEFAULT_COUNT: u64 = 100;
/// The only resource type searched.
const APPOINTMENT: &str = "Appointment";

/// One `_lastUpdated` bound.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Bound {
    at_us: u64,
    /// `ge`/`le` rather than `gt`/`lt`.
    inclusive: bool,
}

impl Bound {
    /// Whether `at_us` is at or after this lower bound.
    fn admits_after(self, at_us: u64) -> bool {
        at_us > self.at_us || (self.inclusive && at_us == self.at_us)
    }

    /// Whether `at_us` is at or before this upper bound.
    fn admits_before(self, at_us: u64) -> bool {
        at_us < self.at_us || (self.inclusive && at_us == self.at_us)
    }
}

/// What a search asks for.
#[derive(Debug, PartialEq)]
struct Search {
    after: Option<Bound>,
    before: Option<Bound>,
    count: u64,
}

/// Reads `_lastUpdated` (`ge`, `gt`, `le`, `lt` + instant), `_count` (at most [`MAX_LIMIT`])
/// and `_sort` (only `_lastUpdated`, the order served); `None` for anything else in them.
fn search_query(query: &str) -> Option<Search> {
    let mut search = Search {
        after: None,
        before: None,
        count: DEFAULT_COUNT,
    };
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match name.as_ref() {
            "_lastUpdated" => {
                let (prefix, instant) = value.split_at_checked(2)?;
                let at = DateTime::parse_from_rfc3339(instant)
                    .ok()?
                    .timestamp_micros();
                let at_us = u64::try_from(at).unwrap_or(0);
                let bound = |inclusive| Some(Bound { at_us, inclusive });
                match prefix {
                    "ge" => search.after = bound(true),
                    "gt" => search.after = bound(false),
                    "le" => search.before = bound(true),
                    "lt" => search.before = bound(false),
                    _ => return None,
                }
            }
            "_count" => search.count = value.parse::<u64>().ok()?.min(MAX_LIMIT),
            "_sort" if value != "_lastUpdated" => return None,
            _ => {}
        }
    }
    Some(search)
}

/// When change `seq` was last updated, to the millisecond (µs since the epoch).
fn updated_us(shared: &Shared, seq: u64) -> u64 {
    match shared.options.feed {
        LoadFeed::Rate { .. } => created_us(shared, seq, 0) / 1000 * 1000,
        LoadFeed::Backlog | LoadFeed::Idle => {
            BACKLOG_EPOCH_US.saturating_add(seq.saturating_mul(1000))
        }
    }
}

/// The first change of `1..=last` updated at or after `after` (`last + 1` when none is): a
/// binary search, since `updated_us` never decreases with `seq`.
fn first_after(shared: &Shared, after: Option<Bound>, last: u64) -> u64 {
    let Some(after) = after else {
        return 1;
    };
    let (mut low, mut high) = (1, last.saturating_add(1));
    while low < high {
        let middle = low + (high - low) / 2;
        if after.admits_after(updated_us(shared, middle)) {
            high = middle;
        } else {
            low = middle + 1;
        }
    }
    low
}

/// An instant as FHIR servers write `meta.lastUpdated`: milliseconds, `Z`.
fn instant(at_us: u64) -> String {
    let at = i64::try_from(at_us).unwrap_or(i64::MAX);
    DateTime::<Utc>::from_timestamp_micros(at)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The searchset Bundle of `search` among the changes `1..=last` at `now`, written by hand
/// because this is the hottest code of the FHIR load EHR. `base` makes the `fullUrl`s.
fn search_page(shared: &Shared, search: &Search, last: u64, now: u64, base: &str) -> String {
    let options = &shared.options;
    let first = first_after(shared, search.after, last);
    let mut body =
        String::with_capacity(64 + search.count as usize * (400 + options.payload_bytes));
    body.push_str(r#"{"resourceType":"Bundle","type":"searchset","entry":["#);
    let mut seq = first;
    while seq <= last && seq - first < search.count {
        let updated = updated_us(shared, seq);
        if search.before.is_some_and(|b| !b.admits_before(updated)) {
            break;
        }
        if seq > first {
            body.push(',');
        }
        let patient = seq % options.patients + 1;
        let _ = write!(
            body,
            r#"{{"fullUrl":"{base}/Appointment/a-{seq}","resource":{{"resourceType":"Appointment","id":"a-{seq}","meta":{{"versionId":"1","lastUpdated":"{}"}},"extension":[{{"url":"{CREATED_US_URL}","valueDecimal":{}}}],"status":"booked","comment":"{}","participant":[{{"actor":{{"reference":"Patient/p-{patient}"}},"status":"accepted"}}]}},"search":{{"mode":"match"}}}}"#,
            instant(updated),
            created_us(shared, seq, now),
            shared.padding,
        );
        seq += 1;
    }
    body.push_str("]}");
    body
}

/// A 200 answer in FHIR JSON dated `now_us`.
fn answer(now_us: u64) -> HttpResponseBuilder {
    let date = UNIX_EPOCH + Duration::from_micros(now_us);
    let mut response = HttpResponse::Ok();
    response
        .insert_header(header::Date(HttpDate::from(date)))
        .content_type("application/fhir+json");
    response
}

/// `GET /fhir/{type}`: an Appointment search (any other type is not served: 404).
pub(super) async fn search(
    shared: web::Data<Shared>,
    resource: web::Path<String>,
    request: HttpRequest,
) -> HttpResponse {
    shared.counters.feed.fetch_add(1, Ordering::Relaxed);
    if let Some(failure) = begin(&shared).await {
        return failure;
    }
    if resource.as_str() != APPOINTMENT {
        return HttpResponse::NotFound().finish();
    }
    let now = now_us();
    let base = format!("http://{}/fhir", request.connection_info().host());
    match searchset(&shared, request.query_string(), now, &base) {
        Some(page) => answer(now).body(page),
        None => HttpResponse::BadRequest().finish(),
    }
}

/// The searchset Bundle that an Appointment search with `query` answers at `now` (`fullUrl`s
/// under `base`); `None` for a query the server refuses.
fn searchset(shared: &Shared, query: &str, now: u64, base: &str) -> Option<String> {
    let search = search_query(query)?;
    let last = last_change(shared.options.feed, shared.start_us, now);
    Some(search_page(shared, &search, last, now, base))
}

/// The FHIR flavour's searches answered without a server, at instants the caller picks: what
/// lets a test read the load EHR's pages with Courier's own Bundle reader at a steady rate's
/// exact moments.
pub struct SearchPages(Shared);

impl SearchPages {
    /// The answers of a load EHR with `options` whose change 0 happened at `start_us` (µs
    /// since the epoch).
    pub fn new(options: LoadEhrOptions, start_us: u64) -> Self {
        Self(Shared::new(options, start_us))
    }

    /// The body of `GET /fhir/Appointment?{query}` at `now_us`, its `fullUrl`s under `base`;
    /// `None` for a query the server answers 400.
    pub fn page(&self, query: &str, now_us: u64, base: &str) -> Option<String> {
        searchset(&self.0, query, now_us, base)
    }
}

/// `GET /fhir/Patient/{id}`.
pub(super) async fn patient(shared: web::Data<Shared>, id: web::Path<String>) -> HttpResponse {
    shared.counters.details.fetch_add(1, Ordering::Relaxed);
    if let Some(failure) = begin(&shared).await {
        return failure;
    }
    let now = now_us();
    let patient = json!({
        "resourceType": "Patient",
        "id": id.as_str(),
        "meta": {"versionId": "1", "lastUpdated": instant(BACKLOG_EPOCH_US)},
        "text": {"status": "generated",
                 "div": format!("<div xmlns=\"http://www.w3.org/1999/xhtml\">{}</div>", shared.padding)},
        "name": [{"family": "Testperson", "given": ["Alpha"]}],
        "birthDate": "1970-01-01",
    });
    answer(now).body(patient.to_string())
}

/// `GET /fhir/metadata`: what this server supports (no history: deletions are not served).
pub(super) async fn metadata(shared: web::Data<Shared>) -> HttpResponse {
    if let Some(failure) = begin(&shared).await {
        return failure;
    }
    let statement = json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "kind": "instance",
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [{"mode": "server", "resource": [
            {"type": APPOINTMENT, "interaction": [{"code": "search-type"}],
             "searchParam": [{"name": "_lastUpdated", "type": "date"}]},
            {"type": "Patient", "interaction": [{"code": "read"}]}
        ]}],
    });
    answer(now_us()).body(statement.to_string())
}

#[cfg(test)]
mod tests;
