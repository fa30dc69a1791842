//! Standard Webhooks signatures: what lets a receiver trust that a notification came from us.
//!
//! The signed content is `"{webhook-id}.{webhook-timestamp}.{body}"`, the MAC is HMAC-SHA256
//! with the key that follows `whsec_` in the shared secret (base64), and the header value is
//! `v1,<base64 MAC>`. Several space-separated signatures may be offered (key rotation).

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Prefix of a Standard Webhooks secret.
const SECRET_PREFIX: &str = "whsec_";

/// The symmetric key shared with one destination; never printed. Held as an HMAC already
/// keyed (its inner and outer pads hashed once), which each message clones.
#[derive(Clone)]
pub struct SigningKey(HmacSha256);

/// Why a secret string cannot be used as a key (the message never contains the secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// The secret does not start with `whsec_`.
    #[error("a signing secret must look like \"whsec_<base64>\"")]
    MissingPrefix,
    /// The part after `whsec_` is not base64.
    #[error("the part after \"whsec_\" is not valid base64")]
    NotBase64,
    /// The key is too short to be safe.
    #[error("the key is {0} bytes; at least 24 are required (32 recommended)")]
    TooShort(usize),
}

/// Why a received notification's signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A required header was missing.
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    /// `webhook-timestamp` is not an integer.
    #[error("webhook-timestamp is not a number")]
    BadTimestamp,
    /// The timestamp is further from now than the tolerance.
    #[error("webhook-timestamp is {0} s away from now")]
    Stale(i64),
    /// No offered `v1` signature matches.
    #[error("no matching v1 signature")]
    Mismatch,
}

impl SigningKey {
    /// Reads a `whsec_<base64>` secret.
    pub fn from_secret(secret: &str) -> Result<Self, SecretError> {
        let encoded = secret
            .trim()
            .strip_prefix(SECRET_PREFIX)
            .ok_or(SecretError::MissingPrefix)?;
        let key = STANDARD
            .decode(encoded)
            .map_err(|_| SecretError::NotBase64)?;
        if key.len() < 24 {
            return Err(SecretError::TooShort(key.len()));
        }
        let keyed = HmacSha256::new_from_slice(&key).expect("HMAC accepts keys of any length");
        Ok(Self(keyed))
    }

    /// Makes a fresh random secret, for `courier demo` and tests.
    pub fn generate_secret() -> String {
        let key: Vec<u8> = (0..32).map(|_| fastrand::u8(..)).collect();
        format!("{SECRET_PREFIX}{}", STANDARD.encode(key))
    }

    /// The `webhook-signature` header value for one message.
    pub fn sign(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
        let mac = self.mac(msg_id, timestamp, body).finalize().into_bytes();
        // "v1," and the 44 characters of a 32-byte MAC in base64.
        let mut value = String::with_capacity(3 + 44);
        value.push_str("v1,");
        STANDARD.encode_string(mac, &mut value);
        value
    }

    /// Checks a received message: timestamp within `tolerance_secs` of `now` and one `v1`
    /// signature matching (compared in constant time).
    pub fn verify(
        &self,
        msg_id: &str,
        timestamp: &str,
        signatures: &str,
        body: &[u8],
        now: i64,
        tolerance_secs: i64,
    ) -> Result<(), VerifyError> {
        let ts: i64 = timestamp
            .trim()
            .parse()
            .map_err(|_| VerifyError::BadTimestamp)?;
        if (now - ts).abs() > tolerance_secs {
            return Err(VerifyError::Stale(now - ts));
        }
        let matches = signatures
            .split(' ')
            .filter_map(|s| s.strip_prefix("v1,"))
            .filter_map(|s| STANDARD.decode(s).ok())
            .any(|mac| self.mac(msg_id, ts, body).verify_slice(&mac).is_ok());
        if matches {
            Ok(())
        } else {
            Err(VerifyError::Mismatch)
        }
    }

    fn mac(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
        let mut mac = self.0.clone();
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}
