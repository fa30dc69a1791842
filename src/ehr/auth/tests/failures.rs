//! A failing token endpoint: every failure is an `EhrError::Auth` that repeats no secret.

use std::time::Duration;

use futures_util::future::join_all;
use serde_json::json;

use super::{rs384_smart, secret_client, Expect, TokenEndpoint, CLIENT_SECRET};
use crate::config::{AuthConfig, ClientAuth, SmartBackendAuth};
use crate::ehr::auth::Authenticator;
use crate::ehr::EhrError;

fn start(timeout: Duration) -> (TokenEndpoint, Authenticator) {
    let endpoint = TokenEndpoint::start(Expect::Secret(ClientAuth::Post));
    let config = AuthConfig::ClientCredentials(secret_client(&endpoint.url(), ClientAuth::Post));
    (endpoint, Authenticator::new(Some(&config), timeout))
}

/// The error of one call, after checking that neither its text nor its `Debug` holds the
/// client secret.
async fn failure(authenticator: &Authenticator) -> EhrError {
    let error = authenticator.authorization().await.unwrap_err();
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains(CLIENT_SECRET), "{shown}");
    assert_eq!(error.kind(), "auth");
    error
}

#[actix_rt::test]
async fn a_server_error_is_retried_later_without_an_operator() {
    let (endpoint, authenticator) = start(Duration::from_secs(5));
    endpoint.script(500, "internal error");
    let error = failure(&authenticator).await;
    assert_eq!(
        error.to_string(),
        "authenticating to the EHR failed: the token endpoint answered HTTP 500"
    );
    assert!(!error.needs_operator());
    let header = authenticator.authorization().await.unwrap().unwrap();
    assert_eq!(header.to_str().unwrap(), "Bearer token-2");
}

#[actix_rt::test]
async fn invalid_client_needs_an_operator() {
    let (endpoint, authenticator) = start(Duration::from_secs(5));
    let body = json!({"error": "invalid_client", "error_description": "unknown client"});
    endpoint.script(401, &body.to_string());
    let error = failure(&authenticator).await;
    assert_eq!(
        error,
        EhrError::Auth {
            status: Some(401),
            retry_after: None,
            reason: "the token endpoint answered HTTP 401 (invalid_client: unknown client)".into(),
        }
    );
    assert!(error.needs_operator());
}

#[actix_rt::test]
async fn a_description_repeating_the_secret_is_left_out() {
    let (endpoint, authenticator) = start(Duration::from_secs(5));
    let description = format!("client_secret {CLIENT_SECRET} is wrong");
    let body = json!({"error": "invalid_client", "error_description": description});
    endpoint.script(400, &body.to_string());
    let error = failure(&authenticator).await;
    assert!(
        error.to_string().ends_with("HTTP 400 (invalid_client)"),
        "{error}"
    );
}

#[actix_rt::test]
async fn a_smart_client_refused_sees_no_assertion_in_its_error() {
    let auth = rs384_smart("http://placeholder/");
    let endpoint = TokenEndpoint::start(Expect::assertion_of(&auth));
    let config = AuthConfig::SmartBackend(SmartBackendAuth {
        token_url: endpoint.url().parse().unwrap(),
        ..auth
    });
    let authenticator = Authenticator::new(Some(&config), Duration::from_secs(5));
    endpoint.script(401, r#"{"error":"invalid_client"}"#);
    let error = authenticator.authorization().await.unwrap_err();
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains("eyJ"), "{shown}");
    assert!(error.needs_operator());
}

#[actix_rt::test]
async fn garbage_is_an_auth_error() {
    let (endpoint, authenticator) = start(Duration::from_secs(5));
    endpoint.script(200, "<html>maintenance</html>");
    let error = failure(&authenticator).await;
    assert_eq!(
        error.to_string(),
        "authenticating to the EHR failed: the token endpoint's answer is not JSON \
         (expected value at line 1 column 1)"
    );
    assert!(!error.needs_operator());
}

#[actix_rt::test]
async fn a_hung_endpoint_times_out() {
    let (endpoint, authenticator) = start(Duration::from_millis(200));
    endpoint.delay(Duration::from_secs(3));
    let error = failure(&authenticator).await;
    assert!(
        error.to_string().ends_with("timed out after 200ms"),
        "{error}"
    );
}

#[actix_rt::test]
async fn a_refused_connection_is_an_auth_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/oauth2/token");
    let config = AuthConfig::ClientCredentials(secret_client(&url, ClientAuth::Post));
    let authenticator = Authenticator::new(Some(&config), Duration::from_secs(5));
    let error = failure(&authenticator).await;
    let expected = format!("authenticating to the EHR failed: the token request to {url} failed: ");
    assert!(error.to_string().starts_with(&expected), "{error}");
}

#[actix_rt::test]
async fn callers_waiting_for_a_failing_request_share_its_error() {
    let (endpoint, authenticator) = start(Duration::from_secs(5));
    endpoint.delay(Duration::from_millis(200));
    endpoint.script(503, "busy");
    let results = join_all((0..10).map(|_| authenticator.authorization())).await;
    assert!(results.iter().all(Result::is_err), "{results:?}");
    assert_eq!(endpoint.requests(), 1);
    // The next call asks again.
    assert!(authenticator.authorization().await.is_ok());
    assert_eq!(endpoint.requests(), 2);
}
