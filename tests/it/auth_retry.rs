//! A 401 from the EHR on a token: the token is dropped and the request retried once with a
//! fresh one, never more.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use courier::ehr::EhrClient;
use courier::ehr::EhrError;
use serde_json::json;

use crate::support::app::parse_config_with;

/// A token endpoint that numbers its tokens, and an EHR that accepts only `accepted`.
struct Mock {
    base: String,
    tokens_issued: Arc<AtomicUsize>,
    feed_requests: Arc<AtomicUsize>,
}

fn start(accepted: Option<&'static str>) -> Mock {
    let tokens_issued = Arc::new(AtomicUsize::new(0));
    let feed_requests = Arc::new(AtomicUsize::new(0));
    let (issued, requests) = (Arc::clone(&tokens_issued), Arc::clone(&feed_requests));
    let server = HttpServer::new(move || {
        let issued = Arc::clone(&issued);
        let requests = Arc::clone(&requests);
        App::new()
            .route(
                "/token",
                web::post().to(move || {
                    let n = issued.fetch_add(1, Ordering::SeqCst) + 1;
                    async move {
                        HttpResponse::Ok().json(json!({"access_token": format!("t{n}"), "token_type": "Bearer", "expires_in": 3600}))
                    }
                }),
            )
            .route(
                "/api/feed",
                web::get().to(move |request: HttpRequest| {
                    requests.fetch_add(1, Ordering::SeqCst);
                    let sent = request.headers().get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
                    async move {
                        match (sent, accepted) {
                            (Some(sent), Some(token)) if sent == format!("Bearer {token}") => HttpResponse::Ok().json(json!([])),
                            _ => HttpResponse::Unauthorized().finish(),
                        }
                    }
                }),
            )
    })
    .workers(1)
    .disable_signals()
    .bind(("127.0.0.1", 0))
    .unwrap();
    let base = format!("http://{}", server.addrs()[0]);
    actix_rt::spawn(server.run());
    Mock {
        base,
        tokens_issued,
        feed_requests,
    }
}

fn client(mock: &Mock) -> EhrClient {
    let text = format!(
        r#"[store]
path = "unused"
[destinations.app]
url = "http://127.0.0.1:9/hooks"
secret_env = "COURIER_TEST_SECRET"
[connections.ehr]
destination = "app"
source = "changes"
base_url = "{base}/api"
changes_path = "/feed"
key_pointer = "/id"
cursor_pointer = "/seq"
event_type = "t"
[connections.ehr.auth]
type = "client_credentials"
token_url = "{base}/token"
client_id = "courier"
client_secret_env = "EHR_SECRET"
"#,
        base = mock.base
    );
    let secret = courier::delivery::signing::SigningKey::generate_secret();
    let config = parse_config_with(&text, &secret, &[("EHR_SECRET", "s3cret")]);
    EhrClient::new(&config.connections["ehr"])
}

#[actix_rt::test]
async fn a_rejected_token_is_replaced_and_the_request_retried_once() {
    // The EHR only takes the second token: the first is "revoked".
    let mock = start(Some("t2"));
    let client = client(&mock);
    let response = client
        .get_json("/feed", &[])
        .await
        .expect("the retry succeeds");
    assert_eq!(response.body, json!([]));
    assert_eq!(mock.tokens_issued.load(Ordering::SeqCst), 2);
    assert_eq!(mock.feed_requests.load(Ordering::SeqCst), 2);
    // The fresh token is kept: the next request needs no new one.
    client.get_json("/feed", &[]).await.unwrap();
    assert_eq!(mock.tokens_issued.load(Ordering::SeqCst), 2);
}

#[actix_rt::test]
async fn an_ehr_that_refuses_every_token_gets_one_retry_not_a_loop() {
    let mock = start(None);
    let client = client(&mock);
    let err = client.get_json("/feed", &[]).await.unwrap_err();
    assert!(matches!(err, EhrError::Status { status: 401, .. }), "{err}");
    assert!(err.needs_operator());
    assert_eq!(mock.feed_requests.load(Ordering::SeqCst), 2);
    assert_eq!(mock.tokens_issued.load(Ordering::SeqCst), 2);
}
