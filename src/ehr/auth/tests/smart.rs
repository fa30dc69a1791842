//! SMART Backend Services: assertions that a verifying endpoint accepts, and one it refuses.

use std::time::Duration;

use super::{es384_smart, rs384_smart, Expect, TokenEndpoint};
use crate::config::{AuthConfig, SmartBackendAuth};
use crate::ehr::auth::Authenticator;

/// An endpoint that expects the assertions of `auth`'s key, and `auth` pointed at it.
fn start(auth: SmartBackendAuth) -> (TokenEndpoint, Authenticator) {
    let endpoint = TokenEndpoint::start(Expect::assertion_of(&auth));
    let auth = SmartBackendAuth {
        token_url: endpoint.url().parse().unwrap(),
        ..auth
    };
    let config = AuthConfig::SmartBackend(auth);
    let authenticator = Authenticator::new(Some(&config), Duration::from_secs(5));
    (endpoint, authenticator)
}

async fn bearer(authenticator: &Authenticator) -> String {
    let header = authenticator.authorization().await.unwrap().unwrap();
    header.to_str().unwrap().to_owned()
}

#[actix_rt::test]
async fn an_rs384_assertion_is_accepted_by_an_endpoint_that_verifies_it() {
    let (endpoint, authenticator) = start(rs384_smart("http://placeholder/"));
    assert_eq!(bearer(&authenticator).await, "Bearer token-1");
    assert_eq!(endpoint.problems(), Vec::<String>::new());
}

#[actix_rt::test]
async fn an_es384_assertion_is_accepted_by_an_endpoint_that_verifies_it() {
    let (endpoint, authenticator) = start(es384_smart("http://placeholder/"));
    assert_eq!(bearer(&authenticator).await, "Bearer token-1");
    assert_eq!(endpoint.problems(), Vec::<String>::new());
}

#[actix_rt::test]
async fn every_token_request_carries_a_new_assertion_and_jti() {
    let (endpoint, authenticator) = start(es384_smart("http://placeholder/"));
    for n in 1..=5 {
        assert_eq!(bearer(&authenticator).await, format!("Bearer token-{n}"));
        authenticator.invalidate();
    }
    assert_eq!(endpoint.requests(), 5);
    assert_eq!(endpoint.problems(), Vec::<String>::new());
}

#[actix_rt::test]
async fn an_assertion_signed_with_another_key_is_refused() {
    let registered = rs384_smart("http://placeholder/");
    let endpoint = TokenEndpoint::start(Expect::assertion_of(&registered));
    let impostor = SmartBackendAuth {
        token_url: endpoint.url().parse().unwrap(),
        ..es384_smart("http://placeholder/")
    };
    let config = AuthConfig::SmartBackend(impostor);
    let authenticator = Authenticator::new(Some(&config), Duration::from_secs(5));
    let error = authenticator.authorization().await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "authenticating to the EHR failed: the token endpoint answered HTTP 400 (invalid_client)"
    );
    assert!(error.needs_operator());
    assert_eq!(
        endpoint.problems(),
        ["request 1: the signature does not verify"]
    );
}
