//! Faults the simulated EHR can be told to produce, so tests can show how Courier behaves when
//! an EHR errors, throttles, hangs, breaks off or stalls a body, redirects in circles, or
//! answers with HTML, an enormous body or the wrong JSON.

use std::collections::VecDeque;
use std::time::Duration;

use actix_web::http::header::{ContentType, DATE, LOCATION, RETRY_AFTER};
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use serde_json::{json, Value};

use super::bodies;

/// What [`Fault::HtmlOk`] serves: the kind of page a gateway shows when the EHR behind it is
/// down, with nothing in it that parses as JSON.
pub const HTML_ERROR_PAGE: &str =
    "<!DOCTYPE html>\n<html><head><title>Service Unavailable</title></head>\n\
    <body><h1>Service Unavailable</h1><p>The server is temporarily unable to service your \
    request. Please try again later.</p></body></html>\n";

/// Which kind of request a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// `GET /api/appointments/changed`, the changes feed a poll reads.
    Feed,
    /// `GET /api/appointments/{id}` and `GET /api/patients/{id}`, read by enrichment.
    Details,
    /// `GET /api/schedule`, the windowed listing a snapshot source pages through.
    Listing,
}

/// One misbehaviour, consumed by exactly one request of its route.
///
/// Faults that garble a body (`WrongShape`, `MissingKey`, `HalfBody`, `Stall`, `HugeBody`,
/// `WrongContentType`) start from the answer the request would have had; when that answer is
/// an error (a 404 for an unknown record), it is sent unchanged. The others replace the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status and a small JSON error body, without `Retry-After`:
    /// `Status(502)` is a bad gateway, `Status(429)` throttling that says not for how long.
    Status(u16),
    /// Answer 429 with `Retry-After: <retry_after_secs>`.
    TooManyRequests {
        /// The `Retry-After` value, in seconds.
        retry_after_secs: u64,
    },
    /// Answer 200 with a body that is not JSON at all.
    Garbage,
    /// Answer 200 with an HTML error page (`content-type: text/html`), as a proxy, a load
    /// balancer or a login wall in front of an EHR does.
    HtmlOk,
    /// Answer 200 with the normal JSON body labelled `content-type: text/plain`.
    WrongContentType,
    /// Answer 200 with valid JSON of the wrong shape: an object where the feed has an array, an
    /// array where a record or a listing page is an object.
    WrongShape,
    /// Answer 200 with the right shape but without the `id` field (in every feed item, or in
    /// the record).
    MissingKey,
    /// Wait this long before answering normally, to exercise the client's timeouts. Nothing,
    /// not even the status line, is sent before the wait is over.
    Hang(Duration),
    /// Answer 200 with the `Content-Length` of the normal body, send its first half, then close
    /// the connection: a body that stops half-way.
    HalfBody,
    /// Answer 200 with the `Content-Length` of the normal body, send its first half, then keep
    /// the socket open and silent until the client gives up (or the sim stops). Unlike
    /// [`Fault::Hang`], the status and headers arrive at once: only a timeout that covers the
    /// body ends the request.
    Stall,
    /// Answer 200 with a body of `bytes` bytes: the normal JSON, padded with whitespace after its
    /// opening bracket, so it stays valid and looks like the real answer. It is streamed in
    /// chunks without a `Content-Length` (so a client can only enforce a size limit while
    /// reading), and the sim never holds more than one chunk of it.
    HugeBody {
        /// The size of the whole body; the normal JSON when that is larger.
        bytes: u64,
    },
    /// Answer 302 with a `Location` of the request's own path and query: an unexpected 3xx for
    /// a client that does not follow redirects, a loop for one that does. Each hop is a request
    /// of its own, so queue the fault once per hop the loop should last.
    RedirectLoop,
    /// Answer 200 with this JSON instead: a page a test writes item by item, such as one
    /// whose positions mix kinds.
    Page(Value),
    /// Answer normally, with this `Date` header instead of the server's clock: an EHR whose
    /// clock jumped.
    Date(String),
}

/// The pending faults and request counts of each route.
#[derive(Debug, Default)]
pub struct FaultQueues {
    feed: VecDeque<Fault>,
    details: VecDeque<Fault>,
    listing: VecDeque<Fault>,
    feed_requests: u64,
    details_requests: u64,
    listing_requests: u64,
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
            Route::Listing => self.listing_requests += 1,
        }
        self.queue(route).pop_front()
    }

    /// Requests received on `route` so far, faulted or not.
    pub fn requests(&self, route: Route) -> u64 {
        match route {
            Route::Feed => self.feed_requests,
            Route::Details => self.details_requests,
            Route::Listing => self.listing_requests,
        }
    }

    /// Faults still queued for `route`.
    pub fn pending(&self, route: Route) -> usize {
        match route {
            Route::Feed => self.feed.len(),
            Route::Details => self.details.len(),
            Route::Listing => self.listing.len(),
        }
    }

    fn queue(&mut self, route: Route) -> &mut VecDeque<Fault> {
        match route {
            Route::Feed => &mut self.feed,
            Route::Details => &mut self.details,
            Route::Listing => &mut self.listing,
        }
    }
}

/// The answer to a request of `route` for `uri` (its path and query) that suffers `fault`,
/// given the answer it would have had: a record or page (`Ok`) or an error response such as a
/// 404 (`Err`, kept unless the fault replaces the whole answer).
pub fn answer(
    route: Route,
    fault: Fault,
    uri: &str,
    normal: Result<Value, HttpResponse>,
) -> HttpResponse {
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
        Fault::HtmlOk => HttpResponse::Ok()
            .content_type(ContentType::html())
            .body(HTML_ERROR_PAGE),
        Fault::RedirectLoop => HttpResponse::Found()
            .insert_header((LOCATION, uri))
            .finish(),
        Fault::Hang(_) => match normal {
            Ok(body) => HttpResponse::Ok().json(body),
            Err(response) => response,
        },
        Fault::WrongContentType => with_body(normal, |json| {
            HttpResponse::Ok()
                .content_type(ContentType::plaintext())
                .body(json)
        }),
        Fault::HalfBody => with_body(normal, bodies::half_then_close),
        Fault::Stall => with_body(normal, bodies::half_then_stall),
        Fault::HugeBody { bytes } => with_body(normal, |json| bodies::padded(json, bytes)),
        Fault::Page(body) => HttpResponse::Ok().json(body),
        Fault::Date(date) => {
            let mut response = match normal {
                Ok(body) => HttpResponse::Ok().json(body),
                Err(response) => response,
            };
            if let Ok(value) = date.parse() {
                response.headers_mut().insert(DATE, value);
            }
            response
        }
    }
}

/// The normal body as JSON text, turned into a response by `respond`; an error answer is kept.
fn with_body(
    normal: Result<Value, HttpResponse>,
    respond: impl FnOnce(Vec<u8>) -> HttpResponse,
) -> HttpResponse {
    match normal {
        Ok(body) => respond(serde_json::to_vec(&body).expect("a JSON value serializes")),
        Err(response) => response,
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
        (Fault::WrongShape, Route::Listing) => body.get("items").cloned().unwrap_or(body),
        (_, Route::Listing) => {
            let mut body = body;
            if let Some(Value::Array(items)) = body.get_mut("items") {
                let stripped = std::mem::take(items).into_iter().map(without_id).collect();
                *items = stripped;
            }
            body
        }
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
            "/api/appointments/changed",
            Ok(json!([])),
        );
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers().get(RETRY_AFTER).unwrap(), "7");
    }

    #[test]
    fn a_redirect_loop_points_at_the_request_itself() {
        let uri = "/api/appointments/changed?since=3&limit=50";
        let response = answer(Route::Feed, Fault::RedirectLoop, uri, Ok(json!([])));
        assert_eq!(response.status(), StatusCode::FOUND);
        assert_eq!(response.headers().get(LOCATION).unwrap(), uri);
    }

    #[test]
    fn html_and_wrong_content_type_answer_200_with_their_labels() {
        let html = answer(Route::Details, Fault::HtmlOk, "/x", Ok(json!({})));
        let text = answer(Route::Details, Fault::WrongContentType, "/x", Ok(json!({})));
        for (response, label) in [(html, "text/html"), (text, "text/plain")] {
            assert_eq!(response.status(), StatusCode::OK);
            let content_type = response.headers().get("content-type").unwrap();
            assert!(content_type.to_str().unwrap().starts_with(label));
        }
    }

    #[test]
    fn body_faults_keep_an_error_answer_as_it_is() {
        for fault in [
            Fault::HalfBody,
            Fault::Stall,
            Fault::HugeBody { bytes: 1 << 20 },
            Fault::WrongContentType,
            Fault::WrongShape,
        ] {
            let response = answer(Route::Details, fault.clone(), "/x", Err(error(404)));
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{fault:?}");
        }
    }

    #[test]
    fn an_invalid_injected_status_becomes_a_server_error() {
        assert_eq!(error(42).status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(error(503).status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
