//! The SMART Backend Services client assertion: a short-lived JWT, signed with the client's
//! private key, that stands in for a client secret at the token endpoint.
//!
//! See <https://hl7.org/fhir/smart-app-launch/backend-services.html>: header `alg`, `typ`,
//! `kid` (and `jku` when the client registered a JWK Set URL); claims `iss` = `sub` = the
//! client id, `aud` = the token URL, `exp` at most five minutes ahead, and a `jti` the
//! server has never seen from this client.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use ring::rand::SecureRandom;
use serde::Serialize;

use crate::config::SmartBackendAuth;

/// How long an assertion is valid. SMART allows at most five minutes; one less leaves room
/// for our clock running ahead of the EHR's.
pub(super) const ASSERTION_LIFETIME_SECS: i64 = 240;

/// The value of `client_assertion_type` that announces a JWT client assertion (RFC 7523).
pub(super) const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Bytes of randomness in a `jti`: 128 bits make a repeat practically impossible.
const JTI_BYTES: usize = 16;

#[derive(Serialize)]
struct Header<'a> {
    alg: &'static str,
    typ: &'static str,
    kid: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    jku: Option<&'a str>,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: i64,
    iat: i64,
    jti: String,
}

/// Why no assertion could be made; only ring's "unspecified" failures of the random number
/// generator or the signer end up here, which say nothing about the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the client assertion could not be signed")]
pub struct AssertionError;

/// A signed client assertion for `auth`, issued at `now`, with a fresh random `jti`.
pub(super) fn client_assertion(
    auth: &SmartBackendAuth,
    now: DateTime<Utc>,
    rng: &dyn SecureRandom,
) -> Result<String, AssertionError> {
    let mut jti = [0u8; JTI_BYTES];
    rng.fill(&mut jti).map_err(|_| AssertionError)?;
    let header = Header {
        alg: auth.algorithm.name(),
        typ: "JWT",
        kid: &auth.kid,
        jku: auth.jku.as_ref().map(url::Url::as_str),
    };
    let claims = Claims {
        iss: &auth.client_id,
        sub: &auth.client_id,
        aud: auth.token_url.as_str(),
        exp: now.timestamp() + ASSERTION_LIFETIME_SECS,
        iat: now.timestamp(),
        jti: URL_SAFE_NO_PAD.encode(jti),
    };
    let mut jwt = format!("{}.{}", encode_json(&header), encode_json(&claims));
    let signature = auth.key.sign(jwt.as_bytes()).map_err(|_| AssertionError)?;
    jwt.push('.');
    jwt.push_str(&URL_SAFE_NO_PAD.encode(signature));
    Ok(jwt)
}

/// base64url of the JSON of `value`; these plain structs always serialize.
fn encode_json(value: &impl Serialize) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use ring::rand::SystemRandom;
    use ring::signature::{UnparsedPublicKey, ECDSA_P384_SHA384_FIXED, RSA_PKCS1_2048_8192_SHA384};
    use serde_json::{json, Value};

    use super::*;
    use crate::ehr::auth::tests::{es384_smart, rs384_smart};

    /// The three parts of a compact JWS: header, claims, and whether the signature verifies.
    fn open(jwt: &str, public_key: &[u8], es384: bool) -> (Value, Value, bool) {
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3, "{jwt}");
        let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).unwrap();
        let signed = format!("{}.{}", parts[0], parts[1]);
        let verified = if es384 {
            UnparsedPublicKey::new(&ECDSA_P384_SHA384_FIXED, public_key)
        } else {
            UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA384, public_key)
        }
        .verify(signed.as_bytes(), &decode(parts[2]))
        .is_ok();
        let json = |part: &str| serde_json::from_slice(&decode(part)).unwrap();
        (json(parts[0]), json(parts[1]), verified)
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    #[test]
    fn an_rs384_assertion_carries_the_smart_header_and_claims_and_verifies() {
        let auth = rs384_smart("https://ehr.example.org/oauth2/token");
        let jwt = client_assertion(&auth, at(1_800_000_000), &SystemRandom::new()).unwrap();
        let (header, claims, verified) = open(&jwt, &auth.key.public_key(), false);
        assert!(verified);
        assert_eq!(
            header,
            json!({"alg": "RS384", "typ": "JWT", "kid": "test-kid"})
        );
        assert_eq!(claims["iss"], "courier-test");
        assert_eq!(claims["sub"], "courier-test");
        assert_eq!(claims["aud"], "https://ehr.example.org/oauth2/token");
        assert_eq!(claims["iat"], 1_800_000_000);
        assert_eq!(claims["exp"], 1_800_000_240);
        let jti = claims["jti"].as_str().unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(jti).unwrap().len(), 16);
    }

    #[test]
    fn an_es384_assertion_names_its_jku_and_verifies() {
        let mut auth = es384_smart("https://ehr.example.org/token");
        auth.jku = Some("https://courier.example.org/jwks.json".parse().unwrap());
        let jwt = client_assertion(&auth, at(1_800_000_000), &SystemRandom::new()).unwrap();
        let (header, _, verified) = open(&jwt, &auth.key.public_key(), true);
        assert!(verified);
        assert_eq!(header["alg"], "ES384");
        assert_eq!(header["jku"], "https://courier.example.org/jwks.json");
    }

    #[test]
    fn every_assertion_has_its_own_jti() {
        let auth = es384_smart("https://ehr.example.org/token");
        let rng = SystemRandom::new();
        let jtis: std::collections::BTreeSet<String> = (0..50)
            .map(|_| {
                let jwt = client_assertion(&auth, at(1_800_000_000), &rng).unwrap();
                open(&jwt, &auth.key.public_key(), true).1["jti"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(jtis.len(), 50);
    }

    #[test]
    fn a_tampered_assertion_does_not_verify() {
        let auth = rs384_smart("https://ehr.example.org/token");
        let jwt = client_assertion(&auth, at(1_800_000_000), &SystemRandom::new()).unwrap();
        let other = rs384_smart("https://evil.example.org/token");
        let forged = client_assertion(&other, at(1_800_000_000), &SystemRandom::new()).unwrap();
        let (_, forged_claims, _) = open(&forged, &other.key.public_key(), false);
        let parts: Vec<&str> = jwt.split('.').collect();
        let swapped = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(forged_claims.to_string()),
            parts[2]
        );
        assert!(!open(&swapped, &auth.key.public_key(), false).2);
    }
}
