//! Client credentials with a client secret, sent as HTTP Basic or in the form.

use std::time::Duration;

use super::{secret_client, Expect, TokenEndpoint, CLIENT_SECRET};
use crate::config::{AuthConfig, ClientAuth};
use crate::ehr::auth::Authenticator;

fn authenticator(endpoint: &TokenEndpoint, client_auth: ClientAuth) -> Authenticator {
    let config = AuthConfig::ClientCredentials(secret_client(&endpoint.url(), client_auth));
    Authenticator::new(Some(&config), Duration::from_secs(5))
}

#[actix_rt::test]
async fn client_secret_basic_sends_the_secret_in_a_basic_header() {
    let endpoint = TokenEndpoint::start(Expect::Secret(ClientAuth::Basic));
    let authenticator = authenticator(&endpoint, ClientAuth::Basic);
    let header = authenticator.authorization().await.unwrap().unwrap();
    assert_eq!(header.to_str().unwrap(), "Bearer token-1");
    assert_eq!(endpoint.problems(), Vec::<String>::new());
}

#[actix_rt::test]
async fn client_secret_post_sends_the_secret_in_the_form() {
    let endpoint = TokenEndpoint::start(Expect::Secret(ClientAuth::Post));
    let authenticator = authenticator(&endpoint, ClientAuth::Post);
    let header = authenticator.authorization().await.unwrap().unwrap();
    assert_eq!(header.to_str().unwrap(), "Bearer token-1");
    assert_eq!(endpoint.problems(), Vec::<String>::new());
}

#[actix_rt::test]
async fn a_secret_sent_the_way_the_endpoint_does_not_take_is_refused_without_repeating_it() {
    let endpoint = TokenEndpoint::start(Expect::Secret(ClientAuth::Post));
    let authenticator = authenticator(&endpoint, ClientAuth::Basic);
    let error = authenticator.authorization().await.unwrap_err();
    assert_eq!(error.kind(), "auth");
    assert!(error.needs_operator());
    assert!(!format!("{error} {error:?}").contains(CLIENT_SECRET));
    assert_eq!(
        endpoint.problems(),
        [
            "request 1: no client_id and client_secret in the form",
            "request 1: an Authorization header as well"
        ]
    );
}
