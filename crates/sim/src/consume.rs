//! The simulated EHR's consume-once feed, after athenahealth's changed-data subscriptions:
//! each read hands out the changes not handed out before and marks them processed, at the
//! time of the read; a re-read by processing time shows what was processed in a window.
//!
//! Route, under `/api`:
//! - `GET /api/appointments/changed-once?limit=<L>`: the next (up to `L`, default 1000)
//!   entries of the changes log not processed yet, in ascending `seq`, marked processed now.
//!   Items look like the changes feed's (`{"seq", "id", "patientId", "ts"}`).
//! - `GET /api/appointments/changed-once?showprocessedstartdatetime=<S>&showprocessedenddatetime=<E>&limit=<L>`:
//!   the entries processed from `S` through the second `E` (both `MM/DD/YYYY HH:MM:SS`,
//!   UTC), in processing order, marking nothing; `offset=<N>` skips the first `N`.
//!
//! Faults queued with [`EhrControl::fault_consume`] hit a read *after* it marked its changes
//! processed: the changes are gone from the feed whatever becomes of the answer, as they are
//! when a real answer is lost on the way or its reader dies before storing it. The EHR's
//! other faults ([`EhrControl::inject`] on `Route::Feed`, outages) hit before: nothing is
//! marked.

use std::collections::{HashMap, VecDeque};

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{json, Value};

use super::ehr::EhrControl;
use super::faults::{self, Fault, Route};
use super::records::{Records, Since};

/// The time format of the re-read window's parameters (athenahealth's).
pub const PROCESSED_TIME_FORMAT: &str = "%m/%d/%Y %H:%M:%S";
/// The window's start parameter.
pub const START_PARAM: &str = "showprocessedstartdatetime";
/// The window's end parameter.
pub const END_PARAM: &str = "showprocessedenddatetime";
/// Page size when a read gives no `limit`.
const DEFAULT_LIMIT: usize = 1000;

/// One change handed out, and when.
#[derive(Debug, Clone)]
struct Processed {
    at: DateTime<Utc>,
    item: Value,
}

/// What the consume-once feed keeps: what it handed out, and the faults queued for reads.
#[derive(Debug, Default)]
pub struct ConsumeFeed {
    /// Every change handed out, in processing order; the next to hand out is the log's
    /// entry after the last of them.
    processed: Vec<Processed>,
    /// Faults for the next reads of the feed (not re-reads), applied after marking.
    faults: VecDeque<Fault>,
    /// Reads of the feed, re-reads apart.
    reads: u64,
    /// Re-reads by processing time.
    rereads: u64,
    /// Reads whose answer a [`Fault::Hang`] held after they marked their changes.
    holds: u64,
}

impl ConsumeFeed {
    /// Hands out up to `limit` changes not handed out yet, marked processed at `now`; and the
    /// fault this read suffers, if one was queued.
    fn read(
        &mut self,
        records: &Records,
        limit: usize,
        now: DateTime<Utc>,
    ) -> (Value, Option<Fault>) {
        self.reads += 1;
        let after = self.processed.len() as i64;
        let items = records.changed(Some(Since::Seq(after)), limit);
        self.processed.extend(items.iter().map(|item| Processed {
            at: now,
            item: item.clone(),
        }));
        (Value::Array(items), self.faults.pop_front())
    }

    /// The changes processed from `start` to the end of the second `end`, up to `limit`.
    fn reread(
        &mut self,
        (start, end): (DateTime<Utc>, DateTime<Utc>),
        offset: usize,
        limit: usize,
    ) -> Value {
        self.rereads += 1;
        let end = end + chrono::Duration::seconds(1);
        let items = self
            .processed
            .iter()
            .filter(|p| p.at >= start && p.at < end)
            .skip(offset)
            .take(limit)
            .map(|p| p.item.clone())
            .collect();
        Value::Array(items)
    }
}

impl EhrControl {
    /// Changes the consume-once feed handed out (marked processed) so far.
    pub fn processed_count(&self) -> usize {
        self.with_consume(|feed, _| feed.processed.len())
    }

    /// Reads of the consume-once feed so far, and re-reads by processing time.
    pub fn consume_reads(&self) -> (u64, u64) {
        self.with_consume(|feed, _| (feed.reads, feed.rereads))
    }

    /// Reads of the consume-once feed that marked their changes processed and then held
    /// their answer ([`Fault::Hang`]), so far: a crash torture kills Courier once it grew.
    pub fn consume_holds(&self) -> u64 {
        self.with_consume(|feed, _| feed.holds)
    }

    /// Makes the next `times` reads of the consume-once feed suffer `fault` after they
    /// marked their changes processed (`Fault::Hang` holds the answer that long; `HalfBody`
    /// loses it on the way; `Status` answers an error instead).
    pub fn fault_consume(&self, fault: Fault, times: usize) {
        self.with_consume(|feed, _| feed.faults.extend(std::iter::repeat_n(fault, times)));
    }
}

/// `GET /api/appointments/changed-once`.
pub(crate) async fn changed_once(
    control: web::Data<EhrControl>,
    request: HttpRequest,
) -> HttpResponse {
    // The EHR's own faults and outages (`Route::Feed`) come before anything is marked.
    if let Some(fault) = control.begin(Route::Feed).await {
        let uri = request.uri().to_string();
        return faults::answer(Route::Feed, fault, &uri, Ok(Value::Array(Vec::new())));
    }
    let params = match web::Query::<HashMap<String, String>>::from_query(request.query_string()) {
        Ok(params) => params.into_inner(),
        Err(_) => return bad_request("the query string is malformed"),
    };
    let limit = match params.get("limit").map(|l| l.parse::<usize>()) {
        None => DEFAULT_LIMIT,
        Some(Ok(limit)) => limit,
        Some(Err(_)) => return bad_request("limit must be a non-negative integer"),
    };
    let offset = params
        .get("offset")
        .and_then(|o| o.parse().ok())
        .unwrap_or(0);
    match (params.get(START_PARAM), params.get(END_PARAM)) {
        (None, None) => {}
        (Some(start), Some(end)) => {
            return match (processed_time(start), processed_time(end)) {
                (Some(start), Some(end)) => HttpResponse::Ok()
                    .json(control.with_consume(|feed, _| feed.reread((start, end), offset, limit))),
                _ => bad_request("processed times are MM/DD/YYYY HH:MM:SS"),
            };
        }
        _ => return bad_request("a re-read needs both ends of its window"),
    }
    let (body, fault) = control.with_consume(|feed, records| feed.read(records, limit, Utc::now()));
    match fault {
        None => HttpResponse::Ok().json(body),
        Some(Fault::Hang(hold)) => {
            control.with_consume(|feed, _| feed.holds += 1);
            tokio::time::sleep(hold).await;
            HttpResponse::Ok().json(body)
        }
        Some(fault) => faults::answer(Route::Feed, fault, &request.uri().to_string(), Ok(body)),
    }
}

fn processed_time(text: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(text, PROCESSED_TIME_FORMAT)
        .ok()
        .map(|naive| naive.and_utc())
}

fn bad_request(reason: &str) -> HttpResponse {
    HttpResponse::BadRequest().json(json!({"error": reason}))
}
