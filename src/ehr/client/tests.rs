//! Tests of the EHR client against small loopback servers that misbehave on purpose (see
//! [`crate::ehr::loopback`]), so a test controls every byte and every pause.

use std::io::Write;
use std::net::TcpListener;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use futures_util::future::join_all;

use super::EhrClient;
use crate::config::ConnectionConfig;
use crate::ehr::loopback::{respond, serve, Server};
use crate::ehr::{fixtures, EhrError, TimeoutPhase};

/// How long a stalling server holds its socket open; longer than any timeout tested.
const STALL: Duration = Duration::from_secs(4);

/// The test connection, pointed at `server`, with `change` applied.
fn client_for(server: &Server, change: impl FnOnce(&mut ConnectionConfig)) -> EhrClient {
    let mut config = fixtures::connection();
    config.base_url = format!("http://{}/api", server.addr).parse().unwrap();
    change(&mut config);
    EhrClient::new(&config)
}

#[actix_rt::test]
async fn a_body_that_stalls_half_way_fails_with_the_body_timeout() {
    let server = serve(|_, stream| {
        let head =
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n";
        let _ = stream.write_all(format!("{head}[{{\"seq\": 1, ").as_bytes());
        let _ = stream.flush();
        thread::sleep(STALL);
    });
    let client = client_for(&server, |c| {
        c.request_timeout = Duration::from_secs(2);
        c.body_timeout = Duration::from_millis(300);
    });
    let start = Instant::now();
    let err = client.get_json("/feed", &[]).await.unwrap_err();
    assert_eq!(
        err,
        EhrError::Timeout {
            path: "/feed".into(),
            phase: TimeoutPhase::Body,
            after: Duration::from_millis(300),
        }
    );
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(
        err.to_string(),
        "request to /feed timed out after 300ms reading the body (body_timeout_ms)"
    );
}

#[actix_rt::test]
async fn a_server_that_never_answers_fails_with_the_request_timeout() {
    let server = serve(|_, _| thread::sleep(STALL));
    let client = client_for(&server, |c| c.request_timeout = Duration::from_millis(200));
    let err = client.get_json("/feed", &[]).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "request to /feed timed out after 200ms waiting for the response headers \
         (request_timeout_ms)"
    );
    assert_eq!(err.kind(), "timeout");
}

#[actix_rt::test]
async fn a_body_larger_than_the_limit_is_refused_while_streaming() {
    // Chunked, so no Content-Length gives the size away: the limit is found while reading.
    let server = serve(|_, stream| {
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                    transfer-encoding: chunked\r\n\r\n";
        let _ = stream.write_all(head.as_bytes());
        for _ in 0..4 {
            let chunk = format!("[{}]", " ".repeat(510));
            let _ = write!(stream, "{:x}\r\n{chunk}\r\n", chunk.len());
        }
        let _ = stream.write_all(b"0\r\n\r\n");
    });
    let client = client_for(&server, |c| c.max_response_bytes = 1024);
    let err = client.get_json("/feed", &[]).await.unwrap_err();
    assert_eq!(
        err,
        EhrError::TooLarge {
            path: "/feed".into(),
            limit: 1024
        }
    );
    assert_eq!(
        err.to_string(),
        "reading the answer of /feed failed: response larger than 1024 bytes (max_response_bytes)"
    );
}

#[actix_rt::test]
async fn a_content_length_over_the_limit_is_refused_before_reading() {
    let server =
        serve(|_, stream| respond(stream, "200 OK", "", &format!("[{}]", " ".repeat(2000))));
    let client = client_for(&server, |c| c.max_response_bytes = 1024);
    let err = client.get_json("/feed", &[]).await.unwrap_err();
    assert_eq!(err.kind(), "too_large");
    // Up to the limit is fine.
    let client = client_for(&server, |c| c.max_response_bytes = 2002);
    assert!(client.get_json("/feed", &[]).await.is_ok());
}

#[actix_rt::test]
async fn retry_after_on_one_request_pauses_every_request_of_the_connection() {
    let server = serve(|number, stream| match number {
        0 => respond(stream, "429 Too Many Requests", "retry-after: 1\r\n", "{}"),
        _ => respond(stream, "200 OK", "", "[]"),
    });
    let client = client_for(&server, |c| c.backoff_max = Duration::from_secs(5));
    let err = client.get_json("/patients/pat-1", &[]).await.unwrap_err();
    let throttled_at = Instant::now();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(1)));
    assert!(client.paused_until().is_some());
    // Another path, as the next poll would be: it waits the pause out.
    client.get_json("/appointments/changed", &[]).await.unwrap();
    let arrived = server.arrivals.lock().unwrap()[1];
    let waited = arrived.duration_since(throttled_at);
    assert!(waited >= Duration::from_millis(990), "{waited:?}");
    assert!(client.paused_until().is_none());
}

#[actix_rt::test]
async fn a_pause_is_capped_by_backoff_max_and_only_follows_429_and_503() {
    let server = serve(|number, stream| match number {
        0 => respond(
            stream,
            "503 Service Unavailable",
            "retry-after: 3600\r\n",
            "{}",
        ),
        1 => respond(
            stream,
            "500 Internal Server Error",
            "retry-after: 3600\r\n",
            "{}",
        ),
        _ => respond(stream, "200 OK", "", "[]"),
    });
    let client = client_for(&server, |c| c.backoff_max = Duration::from_millis(300));
    let start = Instant::now();
    assert!(client.get_json("/a", &[]).await.is_err());
    assert!(client.get_json("/b", &[]).await.is_err());
    let after_500 = Instant::now();
    assert!(after_500 - start >= Duration::from_millis(290));
    assert!(after_500 - start < Duration::from_secs(3));
    // A 500's Retry-After is the caller's business (its backoff), not a pause of the client.
    assert!(client.paused_until().is_none());
    client.get_json("/c", &[]).await.unwrap();
}

#[actix_rt::test]
async fn max_concurrent_requests_bounds_the_requests_in_flight() {
    let server = serve(|_, stream| {
        thread::sleep(Duration::from_millis(100));
        respond(stream, "200 OK", "", "[]");
    });
    let client = client_for(&server, |c| c.max_concurrent_requests = Some(2));
    let results = join_all((0..6).map(|_| client.get_json("/feed", &[]))).await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(server.peak.load(Ordering::SeqCst), 2);
}

#[actix_rt::test]
async fn max_requests_per_sec_spaces_the_requests_of_polls_and_enrichment_alike() {
    let server = serve(|_, stream| respond(stream, "200 OK", "", "[]"));
    let client = client_for(&server, |c| c.max_requests_per_sec = Some(20.0));
    let paths = [
        "/feed",
        "/appointments/1",
        "/patients/1",
        "/feed",
        "/appointments/2",
    ];
    let results = join_all(paths.iter().map(|path| client.get_json(path, &[]))).await;
    assert!(results.iter().all(Result::is_ok));
    let arrivals = server.arrivals.lock().unwrap().clone();
    assert_eq!(arrivals.len(), 5);
    for pair in arrivals.windows(2) {
        let gap = pair[1].duration_since(pair[0]);
        // 50 ms apart, less what scheduling may shift one arrival by.
        assert!(
            gap >= Duration::from_millis(40),
            "{gap:?} between two requests"
        );
    }
}

/// The first hour: an unreachable EHR's message named the path only; the operator looks
/// for the host, under `base_url`.
#[actix_rt::test]
async fn a_refused_connection_is_a_transport_error_naming_the_host_and_base_url() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let mut config = fixtures::connection();
    config.base_url = format!("http://{addr}/api").parse().unwrap();
    let err = EhrClient::new(&config)
        .get_json("/feed", &[])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "transport", "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&format!("(host {addr}, from base_url)")),
        "{text}"
    );
}
