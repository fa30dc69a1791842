//! The token cache: one request for many callers, refreshed ahead of expiry, forgotten on
//! demand; and static credentials, which need no endpoint.

use std::time::Duration;

use futures_util::future::join_all;
use serde_json::{json, Value};

use super::{secret_client, Expect, TokenEndpoint};
use crate::clock::ManualClock;
use crate::config::{AuthConfig, ClientAuth, Secret};
use crate::ehr::auth::Authenticator;

fn start() -> (TokenEndpoint, Authenticator) {
    let endpoint = TokenEndpoint::start(Expect::Secret(ClientAuth::Basic));
    let config = AuthConfig::ClientCredentials(secret_client(&endpoint.url(), ClientAuth::Basic));
    let authenticator = Authenticator::new(Some(&config), Duration::from_secs(5));
    (endpoint, authenticator)
}

async fn bearer(authenticator: &Authenticator) -> String {
    let header = authenticator.authorization().await.unwrap().unwrap();
    header.to_str().unwrap().to_owned()
}

#[actix_rt::test]
async fn a_token_is_requested_once_for_many_calls() {
    let (endpoint, authenticator) = start();
    for _ in 0..100 {
        assert_eq!(bearer(&authenticator).await, "Bearer token-1");
    }
    assert_eq!(endpoint.requests(), 1);
}

#[actix_rt::test]
async fn without_expires_in_a_token_is_still_cached() {
    let (endpoint, authenticator) = start();
    endpoint.expires_in(Value::Null);
    bearer(&authenticator).await;
    assert_eq!(bearer(&authenticator).await, "Bearer token-1");
    assert_eq!(endpoint.requests(), 1);
}

#[actix_rt::test]
async fn concurrent_callers_share_one_token_request() {
    let (endpoint, authenticator) = start();
    endpoint.delay(Duration::from_millis(200));
    let headers = join_all((0..20).map(|_| bearer(&authenticator))).await;
    assert!(headers.iter().all(|h| h == "Bearer token-1"), "{headers:?}");
    assert_eq!(endpoint.requests(), 1);
}

#[actix_rt::test]
async fn a_token_is_refreshed_shortly_before_it_expires() {
    let (endpoint, authenticator) = start();
    let clock = ManualClock::stopped_at("2026-01-01T00:00:00Z".parse().unwrap());
    let authenticator = authenticator.with_clock(clock.clock());
    endpoint.expires_in(json!(1));
    assert_eq!(bearer(&authenticator).await, "Bearer token-1");
    assert_eq!(bearer(&authenticator).await, "Bearer token-1");
    // A 1 s token is used for 0.9 s: refreshed a tenth of its life early, not at once.
    clock.advance(Duration::from_millis(899));
    assert_eq!(bearer(&authenticator).await, "Bearer token-1");
    clock.advance(Duration::from_millis(1));
    assert_eq!(bearer(&authenticator).await, "Bearer token-2");
    assert_eq!(endpoint.requests(), 2);
}

#[actix_rt::test]
async fn a_token_that_expires_at_once_is_requested_every_time() {
    let (endpoint, authenticator) = start();
    endpoint.expires_in(json!(0));
    assert_eq!(bearer(&authenticator).await, "Bearer token-1");
    assert_eq!(bearer(&authenticator).await, "Bearer token-2");
}

#[actix_rt::test]
async fn invalidate_forces_a_new_token() {
    let (endpoint, authenticator) = start();
    assert_eq!(bearer(&authenticator).await, "Bearer token-1");
    authenticator.invalidate();
    assert_eq!(bearer(&authenticator).await, "Bearer token-2");
    assert_eq!(endpoint.requests(), 2);
}

#[actix_rt::test]
async fn rejecting_an_old_token_keeps_the_newer_one() {
    let (endpoint, authenticator) = start();
    let first = authenticator.authorization().await.unwrap().unwrap();
    assert!(authenticator.reject(&first));
    let second = authenticator.authorization().await.unwrap().unwrap();
    assert_eq!(second.to_str().unwrap(), "Bearer token-2");
    // A request that was sent with the first token and is refused late changes nothing.
    assert!(authenticator.reject(&first));
    assert_eq!(bearer(&authenticator).await, "Bearer token-2");
    assert_eq!(endpoint.requests(), 2);
}

#[actix_rt::test]
async fn static_credentials_need_no_endpoint_and_cannot_be_refreshed() {
    let bearer_config = AuthConfig::Bearer {
        token: Secret::new("abc.DEF-123".into()),
    };
    let basic_config = AuthConfig::Basic {
        username: "courier".into(),
        password: Secret::new("pa:ss word".into()),
    };
    let timeout = Duration::from_secs(1);
    let static_bearer = Authenticator::new(Some(&bearer_config), timeout);
    let basic = Authenticator::new(Some(&basic_config), timeout);
    let anonymous = Authenticator::new(None, timeout);
    assert_eq!(bearer(&static_bearer).await, "Bearer abc.DEF-123");
    // "courier:pa:ss word" in base64.
    assert_eq!(bearer(&basic).await, "Basic Y291cmllcjpwYTpzcyB3b3Jk");
    assert_eq!(anonymous.authorization().await.unwrap(), None);
    let header = static_bearer.authorization().await.unwrap().unwrap();
    assert!(!static_bearer.reject(&header));
    assert_eq!(format!("{header:?}"), "Sensitive");
}
