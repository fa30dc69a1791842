//! Faults the simulated EHR can be told to produce, so tests can show how Courier behaves when
//! an EHR errors, throttles, hangs or answers with the wrong JSON.

use std::collections::VecDeque;
use std::time::Duration;

use actix_web::http::header::{ContentType, RETRY_AFTER};
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use serde_json::{json, Value};

/// Which kind of request a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// `GET /api/appointments/changed`, the changes feed a poll reads.
    Feed,
    /// `GET /api/appointments/{id}` and `GET /api/patients/{id}`, read by enrichment.
    Details,
}

/// One misbehaviour, consumed by exactly one request of its route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status and a small JSON error body.
    Status(u16),
    /// Answer 429 with `Retry-After: <retry_after_secs>`.
    TooManyRequests {
        /// The `Retry-After` value, in seconds.
        retry_after_secs: u64,
    },
    /// Answer 200 with a body that is not JSON at all.
    Garbage,
    /// Answer 200 with valid JSON of the wrong shape: an object where the feed has an array, an
    /// array where a record is an object.
    WrongShape,
    /// Answer 200 with the right shape but without the `id` field (in every feed item, or in
    /// the record).
    MissingKey,
    /// Wait this long before answering normally, to exercise the client's timeouts.
    Hang(Duration),
}

/// The pending faults and request counts of each route.
#[derive(Debug, Default)]
pub struct FaultQueues {
    feed: VecDeque<Fault>,
    details: VecDeque<Fault>,
    feed_requests: u64,
    details_requests: u64,
}

impl FaultQueues {
    /// Queues `fault` for the next `times` requests of `route`, after any already queued.
    pub fn inject(&mut self, route: Route, fault: Fault, times: usize) {
        self.queue(route).extend(std::iter::repeat_n(fault, times));
    }

    /// Counts one request of `route` and takes the fault it must suffer, if any.
    pub fn next(&mut self, route: Route) -> Option<Fault> {
        match route {
            Route::Feed => self.feed_requests += 1,
            Route::Details => self.details_requests += 1,
        }
        self.queue(route).pop_front()
    }

    /// Requests received on `route` so far, faulted or not.
    pub fn requests(&self, route: Route) -> u64 {
        match route {
            Route::Feed => self.feed_requests,
            Route::Details => self.details_requests,
        }
    }

    /// Faults still queued for `route`.
    pub fn pending(&self, route: Route) -> usize {
        match route {
            Route::Feed => self.feed.len(),
            Route::Details => self.details.len(),
        }
    }

    fn queue(&mut self, route: Route) -> &mut VecDeque<Fault> {
        match route {
            Route::Feed => &mut self.feed,
            Route::Details => &mut self.details,
        }
    }
}

/// The answer to a request of `route` that suffers `fault`, given the answer it would have had:
/// a record or page (`Ok`) or an error response such as a 404 (`Err`, kept unless the fault
/// replaces the whole answer).
pub fn answer(route: Route, fault: Fault, normal: Result<Value, HttpResponse>) -> HttpResponse {
    match fault {
        Fault::Status(code) => error(code),
        Fault::TooManyRequests { retry_after_secs } => {
            let mut response = error(429);
            response.headers_mut().insert(
                RETRY_AFTER,
                retry_after_secs
                    .to_string()
                    .parse()
                    .expect("digits are a valid header value"),
            );
            response
        }
        Fault::Garbage => HttpResponse::Ok()
            .content_type(ContentType::json())
            .body("{\"resourceType\": \"Bund<html>oops"),
        Fault::WrongShape | Fault::MissingKey => match normal {
            Ok(body) => HttpResponse::Ok().json(reshape(route, &fault, body)),
            Err(response) => response,
        },
        Fault::Hang(_) => match normal {
            Ok(body) => HttpResponse::Ok().json(body),
            Err(response) => response,
        },
    }
}

/// A small JSON error body with `code`; an invalid code becomes 500 so the test still sees a
/// server error rather than a panic in the sim.
pub fn error(code: u16) -> HttpResponse {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(status).json(json!({
        "error": status.canonical_reason().unwrap_or("injected fault"),
        "status": status.as_u16(),
    }))
}

fn reshape(route: Route, fault: &Fault, body: Value) -> Value {
    match (fault, route) {
        (Fault::WrongShape, Route::Feed) => json!({ "entry": body }),
        (Fault::WrongShape, Route::Details) => json!([body]),
        (_, Route::Feed) => match body {
            Value::Array(items) => items.into_iter().map(without_id).collect(),
            other => other,
        },
        (_, Route::Details) => without_id(body),
    }
}

fn without_id(mut value: Value) -> Value {
    if let Some(object) = value.as_object_mut() {
        object.remove("id");
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_consumed_in_order_per_route() {
        let mut queues = FaultQueues::default();
        queues.inject(Route::Feed, Fault::Status(500), 2);
        queues.inject(Route::Feed, Fault::Garbage, 1);
        queues.inject(Route::Details, Fault::MissingKey, 1);
        assert_eq!(queues.pending(Route::Feed), 3);
        assert_eq!(queues.next(Route::Feed), Some(Fault::Status(500)));
        assert_eq!(queues.next(Route::Feed), Some(Fault::Status(500)));
        assert_eq!(queues.next(Route::Feed), Some(Fault::Garbage));
        assert_eq!(queues.next(Route::Feed), None);
        assert_eq!(queues.requests(Route::Feed), 4);
        assert_eq!(queues.requests(Route::Details), 0);
        assert_eq!(queues.next(Route::Details), Some(Fault::MissingKey));
    }

    #[test]
    fn missing_key_strips_ids_from_every_feed_item_and_from_a_record() {
        let page = json!([{"id": "a", "seq": 1}, {"id": "b", "seq": 2}]);
        assert_eq!(
            reshape(Route::Feed, &Fault::MissingKey, page),
            json!([{"seq": 1}, {"seq": 2}])
        );
        let record = json!({"id": "a", "status": "booked"});
        assert_eq!(
            reshape(Route::Details, &Fault::MissingKey, record),
            json!({"status": "booked"})
        );
    }

    #[test]
    fn wrong_shape_swaps_arrays_and_objects() {
        assert!(reshape(Route::Feed, &Fault::WrongShape, json!([])).is_object());
        assert!(reshape(Route::Details, &Fault::WrongShape, json!({})).is_array());
    }

    #[test]
    fn throttling_answers_429_with_retry_after() {
        let response = answer(
            Route::Feed,
            Fault::TooManyRequests {
                retry_after_secs: 7,
            },
            Ok(json!([])),
        );
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers().get(RETRY_AFTER).unwrap(), "7");
    }

    #[test]
    fn an_invalid_injected_status_becomes_a_server_error() {
        assert_eq!(error(42).status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(error(503).status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
