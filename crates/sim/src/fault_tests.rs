//! The hostile faults seen over the network: by raw TCP where the bytes on the wire are the
//! point (a body cut off or stalled half-way), by awc where a client's view is.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use serde_json::Value;

use super::*;

fn ehr(initial_changes: usize) -> SimEhr {
    SimEhr::start(SimEhrOptions {
        patients: 3,
        appointments: 5,
        initial_changes,
        ..SimEhrOptions::default()
    })
    .unwrap()
}

/// How a raw exchange ended.
#[derive(Debug, PartialEq)]
enum End {
    /// The server closed the connection.
    Closed,
    /// The connection stayed open but nothing came for the quiet period.
    Silent,
}

/// What came back on the socket: the status line and headers, the body bytes, and how it ended.
#[derive(Debug)]
struct Raw {
    head: String,
    body: Vec<u8>,
    end: End,
    took: Duration,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }

    fn content_length(&self) -> usize {
        self.header("content-length").unwrap().parse().unwrap()
    }
}

/// Sends `GET path` (asking the server to close after the answer) and reads until the server
/// closes or is silent for `quiet`. Blocking I/O, off the System's thread.
async fn raw_get(ehr: &SimEhr, path: &str, quiet: Duration) -> Raw {
    let base = ehr.base_url();
    let addr = base
        .trim_start_matches("http://")
        .trim_end_matches("/api")
        .to_owned();
    let request = format!("GET /api{path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n");
    actix_rt::task::spawn_blocking(move || {
        let started = Instant::now();
        let mut socket = TcpStream::connect(&addr).unwrap();
        socket.set_read_timeout(Some(quiet)).unwrap();
        socket.write_all(request.as_bytes()).unwrap();
        let (mut bytes, mut chunk) = (Vec::new(), [0u8; 4096]);
        let end = loop {
            match socket.read(&mut chunk) {
                Ok(0) => break End::Closed,
                Ok(n) => bytes.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    break End::Silent
                }
                Err(e) if e.kind() == ErrorKind::ConnectionReset => break End::Closed,
                Err(e) => panic!("reading from the sim EHR: {e}"),
            }
        };
        let split = bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a complete head");
        Raw {
            head: String::from_utf8(bytes[..split].to_vec()).unwrap(),
            body: bytes[split + 4..].to_vec(),
            end,
            took: started.elapsed(),
        }
    })
    .await
    .unwrap()
}

#[actix_rt::test]
async fn half_body_declares_the_whole_length_sends_half_then_closes() {
    let ehr = ehr(5);
    ehr.inject(Route::Feed, Fault::HalfBody, 1);
    let quiet = Duration::from_secs(5);
    let cut = raw_get(&ehr, "/appointments/changed", quiet).await;
    assert!(cut.head.starts_with("HTTP/1.1 200"), "{}", cut.head);
    assert_eq!(cut.end, End::Closed, "closed, not merely silent");
    assert!(cut.took < quiet);
    let whole = raw_get(&ehr, "/appointments/changed", quiet).await;
    assert_eq!(whole.end, End::Closed);
    assert_eq!(cut.content_length(), whole.body.len(), "the real length");
    assert_eq!(cut.body.len(), whole.body.len() / 2);
    assert_eq!(cut.body[..], whole.body[..cut.body.len()], "a true prefix");
    assert!(serde_json::from_slice::<Value>(&whole.body).is_ok());
    // awc (3.11) ends a body at the close without comparing it with its Content-Length: a
    // client has to, or it sees only that the half is not JSON.
    ehr.inject(Route::Feed, Fault::HalfBody, 1);
    let url = format!("{}/appointments/changed", ehr.base_url());
    let mut response = awc::Client::default().get(&url).send().await.unwrap();
    if let Ok(body) = response.body().await {
        assert_eq!(body.len(), whole.body.len() / 2);
    }
    ehr.stop().await;
}

#[actix_rt::test]
async fn stall_sends_headers_and_half_the_body_then_holds_the_socket_open() {
    let ehr = ehr(1);
    ehr.inject(Route::Details, Fault::Stall, 1);
    let stalled = raw_get(&ehr, "/appointments/appt-1", Duration::from_millis(400)).await;
    assert!(stalled.head.starts_with("HTTP/1.1 200"), "{}", stalled.head);
    assert_eq!(stalled.end, End::Silent, "open and silent, not closed");
    assert!(stalled.content_length() > 0);
    assert_eq!(stalled.body.len(), stalled.content_length() / 2);
    // Unlike `Hang`, the headers come at once: only a timeout over the body catches this,
    // and awc's own request timeout is not one.
    let client = awc::Client::builder()
        .timeout(Duration::from_millis(300))
        .finish();
    let url = format!("{}/patients/pat-1", ehr.base_url());
    ehr.inject(Route::Details, Fault::Stall, 1);
    let mut response = client.get(&url).send().await.expect("the headers arrive");
    assert_eq!(response.status(), StatusCode::OK);
    let body = tokio::time::timeout(Duration::from_millis(500), response.body()).await;
    assert!(body.is_err(), "the body never completes: {body:?}");
    // The stalled sockets do not hold up anyone else.
    let (status, _) = get(&url).await;
    assert_eq!(status, StatusCode::OK);
    ehr.stop().await;
}

async fn get(url: &str) -> (StatusCode, awc::ClientResponse) {
    let response = awc::Client::default().get(url).send().await.unwrap();
    (response.status(), response)
}

async fn body_of(url: &str) -> (StatusCode, String, Vec<u8>) {
    let client = awc::Client::builder().disable_redirects().finish();
    let mut response = client.get(url).send().await.unwrap();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = response.body().limit(1 << 20).await.unwrap().to_vec();
    (response.status(), content_type, body)
}

#[actix_rt::test]
async fn html_ok_is_a_200_html_page_that_is_not_json() {
    let ehr = ehr(2);
    ehr.inject(Route::Feed, Fault::HtmlOk, 1);
    let (status, content_type, body) =
        body_of(&format!("{}/appointments/changed", ehr.base_url())).await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(body.starts_with(b"<!DOCTYPE html>"));
    assert!(serde_json::from_slice::<Value>(&body).is_err());
    ehr.stop().await;
}

#[actix_rt::test]
async fn wrong_content_type_labels_the_right_json_as_text() {
    let ehr = ehr(2);
    ehr.inject(Route::Feed, Fault::WrongContentType, 1);
    let url = format!("{}/appointments/changed", ehr.base_url());
    let (status, content_type, body) = body_of(&url).await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let (_, normal_type, normal) = body_of(&url).await;
    assert_eq!(normal_type, "application/json");
    assert_eq!(body, normal, "the body is exactly the normal page");
    ehr.stop().await;
}

#[actix_rt::test]
async fn huge_body_is_streamed_without_a_length_and_refused_by_a_limited_reader() {
    let ehr = ehr(3);
    let url = format!("{}/appointments/changed?since=1", ehr.base_url());
    let bytes = 3 << 20;
    ehr.inject(Route::Feed, Fault::HugeBody { bytes }, 2);
    let mut limited = awc::Client::default().get(&url).send().await.unwrap();
    assert_eq!(limited.status(), StatusCode::OK);
    assert!(limited.headers().get("content-length").is_none());
    let refused = limited.body().limit(64 * 1024).await.unwrap_err();
    assert!(
        matches!(refused, awc::error::PayloadError::Overflow),
        "{refused:?}"
    );
    // Read whole, it is valid JSON: the normal page, padded.
    let mut whole = awc::Client::default().get(&url).send().await.unwrap();
    let body = whole.body().limit(4 << 20).await.unwrap();
    assert_eq!(body.len() as u64, bytes);
    let page: Value = serde_json::from_slice(&body).unwrap();
    let (_, _, normal) = body_of(&url).await;
    assert_eq!(page, serde_json::from_slice::<Value>(&normal).unwrap());
    ehr.stop().await;
}

#[actix_rt::test]
async fn redirect_loop_points_at_the_request_itself_until_its_faults_run_out() {
    let ehr = ehr(1);
    let path = "/appointments/changed?since=0&limit=5";
    let url = format!("{}{path}", ehr.base_url());
    ehr.inject(Route::Feed, Fault::RedirectLoop, 1);
    let client = awc::Client::builder().disable_redirects().finish();
    let response = client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(
        response.headers().get("location").unwrap(),
        &format!("/api{path}")
    );
    // Each hop is a request of its own: with enough of them queued, a client that follows
    // redirects (awc: at most 10) goes round until it gives up, still holding a 302.
    ehr.inject(Route::Feed, Fault::RedirectLoop, 50);
    let (status, _) = get(&url).await;
    assert_eq!(status, StatusCode::FOUND);
    assert_eq!(
        ehr.pending_faults(Route::Feed),
        50 - 11,
        "the request and 10 hops"
    );
    ehr.stop().await;
}

#[actix_rt::test]
async fn bad_gateway_and_throttling_without_retry_after_are_plain_statuses() {
    let ehr = ehr(1);
    ehr.inject(Route::Feed, Fault::Status(502), 1);
    ehr.inject(Route::Feed, Fault::Status(429), 1);
    let url = format!("{}/appointments/changed", ehr.base_url());
    for expected in [StatusCode::BAD_GATEWAY, StatusCode::TOO_MANY_REQUESTS] {
        let (status, response) = get(&url).await;
        assert_eq!(status, expected);
        assert!(response.headers().get("retry-after").is_none());
    }
    ehr.stop().await;
}

#[actix_rt::test]
async fn an_outage_fails_every_route_after_the_queued_faults_until_cleared() {
    let ehr = ehr(1);
    ehr.inject(Route::Feed, Fault::Status(502), 1);
    ehr.set_outage(Some(Fault::Status(503)));
    let feed = format!("{}/appointments/changed", ehr.base_url());
    let record = format!("{}/appointments/appt-1", ehr.base_url());
    assert_eq!(get(&feed).await.0, StatusCode::BAD_GATEWAY, "queued first");
    for url in [&feed, &record, &feed] {
        assert_eq!(get(url).await.0, StatusCode::SERVICE_UNAVAILABLE, "{url}");
    }
    ehr.set_outage(None);
    assert_eq!(get(&feed).await.0, StatusCode::OK);
    assert_eq!(get(&record).await.0, StatusCode::OK);
    ehr.stop().await;
}

#[actix_rt::test]
async fn the_observer_sees_every_request_numbered_per_route_before_its_answer() {
    use std::sync::{Arc, Mutex};
    let ehr = ehr(1);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (record, control) = (Arc::clone(&seen), ehr.control());
    ehr.on_request(move |route, number| {
        // The observer may use the control: a change made here is in this very answer.
        if route == Route::Feed && number == 2 {
            control.touch("appt-2");
        }
        record.lock().unwrap().push((route, number));
    });
    let feed = format!("{}/appointments/changed", ehr.base_url());
    let (_, _, first) = body_of(&feed).await;
    body_of(&format!("{}/patients/pat-1", ehr.base_url())).await;
    let (_, _, second) = body_of(&feed).await;
    let items = |body: &[u8]| {
        serde_json::from_slice::<Value>(body)
            .unwrap()
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!((items(&first), items(&second)), (1, 2));
    assert_eq!(
        *seen.lock().unwrap(),
        [(Route::Feed, 1), (Route::Details, 1), (Route::Feed, 2)]
    );
    ehr.stop().await;
}
