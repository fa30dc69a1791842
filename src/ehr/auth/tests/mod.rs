//! Tests of the authenticator against a mock token endpoint that checks what a real one
//! checks, and the keys and clients they use.

mod cache;
mod client_credentials;
mod endpoint;
mod failures;
mod smart;

use std::sync::Arc;

use crate::client_key::tests::es384_pem;
use crate::client_key::ClientKey;
use crate::config::{ClientAuth, ClientCredentialsAuth, Secret, SmartBackendAuth};
pub(crate) use endpoint::{Expect, TokenEndpoint};

/// The client secret of the test clients.
pub(crate) const CLIENT_SECRET: &str = "s3cret-Value_42";

fn smart(token_url: &str, key: ClientKey) -> SmartBackendAuth {
    SmartBackendAuth {
        token_url: token_url.parse().unwrap(),
        client_id: "courier-test".into(),
        algorithm: key.algorithm(),
        key: Arc::new(key),
        private_key_file: "test-key.pem".into(),
        kid: "test-kid".into(),
        jku: None,
        scope: "system/Appointment.rs system/Patient.rs".into(),
    }
}

/// A SMART client signing RS384 with the committed test-only RSA key.
pub(crate) fn rs384_smart(token_url: &str) -> SmartBackendAuth {
    let pem = include_bytes!("../../../client_key/testdata/rsa-2048-pkcs8.pem");
    smart(token_url, ClientKey::from_pem(pem, None).unwrap())
}

/// A SMART client signing ES384 with a key generated for the test.
pub(crate) fn es384_smart(token_url: &str) -> SmartBackendAuth {
    let key = ClientKey::from_pem(es384_pem().as_bytes(), None).unwrap();
    smart(token_url, key)
}

/// A client-credentials client sending its secret as `client_auth` says.
pub(crate) fn secret_client(token_url: &str, client_auth: ClientAuth) -> ClientCredentialsAuth {
    ClientCredentialsAuth {
        token_url: token_url.parse().unwrap(),
        client_id: "courier-test".into(),
        client_secret: Secret::new(CLIENT_SECRET.into()),
        scope: Some("system/*.read".into()),
        client_auth,
    }
}
