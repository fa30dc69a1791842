//! The private key of a SMART backend client: read from PEM once, at load, and then only
//! used to sign client assertions. Nothing here ever prints key material.

use std::fmt;

use ring::rand::SystemRandom;
use ring::signature::{
    EcdsaKeyPair, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING,
    RSA_PKCS1_SHA384,
};
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::PrivateKeyDer;

/// The JWS algorithms SMART Backend Services asks servers to support.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-384, with an RSA key of 2048 to 8192 bits.
    Rs384,
    /// ECDSA on P-384 with SHA-384, the signature as `r || s` (96 bytes).
    Es384,
}

impl JwtAlgorithm {
    /// The name the JWS `alg` header and the configuration use.
    pub fn name(self) -> &'static str {
        match self {
            JwtAlgorithm::Rs384 => "RS384",
            JwtAlgorithm::Es384 => "ES384",
        }
    }

    /// Reads a configured `algorithm`; JOSE names are case-sensitive.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "RS384" => Some(JwtAlgorithm::Rs384),
            "ES384" => Some(JwtAlgorithm::Es384),
            _ => None,
        }
    }
}

impl fmt::Display for JwtAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A client's signing key; `Debug` says which algorithm, never the key.
pub struct ClientKey {
    pair: KeyPair,
    rng: SystemRandom,
}

enum KeyPair {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

/// Why a PEM file cannot be used as a client key. Messages name the kind of key, never its
/// content; the caller adds the file name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// No private key section at all.
    #[error("holds no PEM private key (expected \"-----BEGIN PRIVATE KEY-----\" or \"-----BEGIN RSA PRIVATE KEY-----\")")]
    NoKey,
    /// The PEM text itself is broken.
    #[error("is not a valid PEM file: {0}")]
    Pem(&'static str),
    /// A password-protected key; Courier has nowhere to keep a password.
    #[error("holds an encrypted private key; Courier needs it unencrypted: `openssl pkcs8 -topk8 -nocrypt -in <encrypted> -out <key.pem>`, then restrict the file's permissions")]
    Encrypted,
    /// A SEC1 `EC PRIVATE KEY`, which ring cannot read.
    #[error("holds a SEC1 \"EC PRIVATE KEY\"; ES384 needs PKCS#8 (\"PRIVATE KEY\"): convert it with `openssl pkcs8 -topk8 -nocrypt -in <sec1.pem> -out <pkcs8.pem>`")]
    Sec1,
    /// An RSA key that ring refuses (too small, inconsistent…).
    #[error("holds an RSA key that cannot sign RS384 ({0})")]
    Rsa(&'static str),
    /// An EC key on another curve than P-384.
    #[error("holds an EC key on curve P-256; ES384 needs a P-384 key")]
    WrongCurve,
    /// A PKCS#8 key of another kind (Ed25519, DSA…).
    #[error("holds a private key that is neither RSA nor EC P-384 ({0})")]
    Unsupported(&'static str),
    /// The key does not fit the configured algorithm.
    #[error("algorithm {algorithm} needs {needs}, but the file holds {holds}")]
    Mismatch {
        /// The configured algorithm.
        algorithm: JwtAlgorithm,
        /// The key it needs.
        needs: &'static str,
        /// The key the file holds.
        holds: &'static str,
    },
}

impl ClientKey {
    /// Reads the first private key in `pem`. The algorithm follows from the key unless
    /// `algorithm` is given, which must then fit it.
    pub fn from_pem(pem: &[u8], algorithm: Option<JwtAlgorithm>) -> Result<Self, KeyError> {
        if contains(pem, b"ENCRYPTED PRIVATE KEY") || contains(pem, b"Proc-Type: 4,ENCRYPTED") {
            return Err(KeyError::Encrypted);
        }
        let rng = SystemRandom::new();
        let pair = match PrivateKeyDer::from_pem_slice(pem).map_err(pem_error)? {
            PrivateKeyDer::Pkcs1(der) => {
                KeyPair::Rsa(RsaKeyPair::from_der(der.secret_pkcs1_der()).map_err(rsa_error)?)
            }
            PrivateKeyDer::Pkcs8(der) => pkcs8(der.secret_pkcs8_der(), &rng)?,
            PrivateKeyDer::Sec1(_) => return Err(KeyError::Sec1),
            _ => return Err(KeyError::NoKey),
        };
        let key = ClientKey { pair, rng };
        match algorithm {
            Some(wanted) if wanted != key.algorithm() => Err(KeyError::Mismatch {
                algorithm: wanted,
                needs: key_words(wanted),
                holds: key_words(key.algorithm()),
            }),
            _ => Ok(key),
        }
    }

    /// The algorithm this key signs with.
    pub fn algorithm(&self) -> JwtAlgorithm {
        match self.pair {
            KeyPair::Rsa(_) => JwtAlgorithm::Rs384,
            KeyPair::Ec(_) => JwtAlgorithm::Es384,
        }
    }

    /// Signs `message` as a JWS signature of [`Self::algorithm`].
    pub(crate) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, ring::error::Unspecified> {
        match &self.pair {
            KeyPair::Rsa(pair) => {
                let mut signature = vec![0; pair.public().modulus_len()];
                pair.sign(&RSA_PKCS1_SHA384, &self.rng, message, &mut signature)?;
                Ok(signature)
            }
            KeyPair::Ec(pair) => Ok(pair.sign(&self.rng, message)?.as_ref().to_vec()),
        }
    }

    /// The public key, as ring's verifiers take it (tests check signatures with it).
    #[cfg(test)]
    pub(crate) fn public_key(&self) -> Vec<u8> {
        use ring::signature::KeyPair as _;
        match &self.pair {
            KeyPair::Rsa(pair) => pair.public_key().as_ref().to_vec(),
            KeyPair::Ec(pair) => pair.public_key().as_ref().to_vec(),
        }
    }
}

impl fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClientKey({}, <redacted>)", self.algorithm())
    }
}

/// A PKCS#8 key: RSA, or EC on P-384. ring says `WrongAlgorithm` when the key is of another
/// kind than the parser's, which is how the kind is told apart without an ASN.1 parser.
fn pkcs8(der: &[u8], rng: &SystemRandom) -> Result<KeyPair, KeyError> {
    let rsa_refusal = match RsaKeyPair::from_pkcs8(der) {
        Ok(pair) => return Ok(KeyPair::Rsa(pair)),
        Err(rejected) => rejected.to_string(),
    };
    if rsa_refusal != "WrongAlgorithm" {
        return Err(KeyError::Rsa(rsa_words(&rsa_refusal)));
    }
    match EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, der, rng) {
        Ok(pair) => Ok(KeyPair::Ec(pair)),
        Err(_) if EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, rng).is_ok() => {
            Err(KeyError::WrongCurve)
        }
        Err(rejected) => Err(KeyError::Unsupported(refusal_words(&rejected.to_string()))),
    }
}

fn rsa_error(rejected: ring::error::KeyRejected) -> KeyError {
    KeyError::Rsa(rsa_words(&rejected.to_string()))
}

/// ring's reasons for refusing an RSA key, in words (ring only gives identifiers).
fn rsa_words(reason: &str) -> &'static str {
    match reason {
        "TooSmall" => "it is shorter than 2048 bits",
        "TooLarge" => "it is longer than 8192 bits",
        other => refusal_words(other),
    }
}

fn refusal_words(reason: &str) -> &'static str {
    match reason {
        "InvalidEncoding" | "InvalidComponent" => "its encoding is invalid",
        "InconsistentComponents" => "its components are inconsistent",
        "VersionNotSupported" => "its PKCS#8 version is not supported",
        "WrongAlgorithm" => "an unsupported key type",
        _ => "refused by the crypto library",
    }
}

fn key_words(algorithm: JwtAlgorithm) -> &'static str {
    match algorithm {
        JwtAlgorithm::Rs384 => "an RSA key",
        JwtAlgorithm::Es384 => "an EC P-384 key",
    }
}

/// The PEM parser's errors in fixed words: its own messages may quote lines of the file.
fn pem_error(error: pem::Error) -> KeyError {
    match error {
        pem::Error::NoItemsFound => KeyError::NoKey,
        pem::Error::MissingSectionEnd { .. } => KeyError::Pem("a section has no END line"),
        pem::Error::IllegalSectionStart { .. } => KeyError::Pem("a BEGIN line is malformed"),
        pem::Error::Base64Decode(_) => KeyError::Pem("a section is not valid base64"),
        _ => KeyError::Pem("it cannot be read"),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// Test keys and PEM text, shared with the tests of the modules that read or use keys.
#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use ring::signature::EcdsaKeyPair;

    const RSA_PKCS8: &[u8] = include_bytes!("testdata/rsa-2048-pkcs8.pem");
    const RSA_PKCS1: &[u8] = include_bytes!("testdata/rsa-2048-pkcs1.pem");
    const RSA_1024: &[u8] = include_bytes!("testdata/rsa-1024-pkcs8.pem");
    const EC_SEC1: &[u8] = include_bytes!("testdata/ec-p384-sec1.pem");

    /// A PEM section of `der` under `label`.
    pub(crate) fn pem(label: &str, der: &[u8]) -> String {
        let body = STANDARD.encode(der);
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|line| std::str::from_utf8(line).unwrap())
            .collect();
        format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            lines.join("\n")
        )
    }

    /// A freshly generated P-384 key, as a PKCS#8 PEM.
    pub(crate) fn es384_pem() -> String {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &rng).unwrap();
        pem("PRIVATE KEY", pkcs8.as_ref())
    }

    /// A PEM `PRIVATE KEY` of a freshly generated PKCS#8 EC key on `curve`.
    fn ec_pem(curve: &'static ring::signature::EcdsaSigningAlgorithm) -> Vec<u8> {
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(curve, &SystemRandom::new()).unwrap();
        pem("PRIVATE KEY", pkcs8.as_ref()).into_bytes()
    }

    #[test]
    fn rsa_keys_are_read_from_pkcs8_and_pkcs1_as_rs384() {
        let pkcs8 = ClientKey::from_pem(RSA_PKCS8, None).unwrap();
        let pkcs1 = ClientKey::from_pem(RSA_PKCS1, Some(JwtAlgorithm::Rs384)).unwrap();
        assert_eq!(pkcs8.algorithm(), JwtAlgorithm::Rs384);
        assert_eq!(pkcs8.public_key(), pkcs1.public_key());
    }

    #[test]
    fn a_p384_pkcs8_key_signs_es384() {
        let key = ClientKey::from_pem(&ec_pem(&ECDSA_P384_SHA384_FIXED_SIGNING), None).unwrap();
        assert_eq!(key.algorithm(), JwtAlgorithm::Es384);
        assert_eq!(key.sign(b"message").unwrap().len(), 96);
    }

    #[test]
    fn a_key_that_does_not_fit_the_configured_algorithm_is_refused() {
        let error = ClientKey::from_pem(RSA_PKCS8, Some(JwtAlgorithm::Es384)).unwrap_err();
        assert_eq!(
            error.to_string(),
            "algorithm ES384 needs an EC P-384 key, but the file holds an RSA key"
        );
    }

    #[test]
    fn unusable_keys_are_refused_with_what_to_do() {
        let cases: [(&[u8], &str); 5] = [
            (EC_SEC1, "holds a SEC1 \"EC PRIVATE KEY\"; ES384 needs PKCS#8 (\"PRIVATE KEY\"): convert it with `openssl pkcs8 -topk8 -nocrypt -in <sec1.pem> -out <pkcs8.pem>`"),
            (RSA_1024, "holds an RSA key that cannot sign RS384 (it is shorter than 2048 bits)"),
            (&ec_pem(&ECDSA_P256_SHA256_FIXED_SIGNING), "holds an EC key on curve P-256; ES384 needs a P-384 key"),
            (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "holds no PEM private key (expected \"-----BEGIN PRIVATE KEY-----\" or \"-----BEGIN RSA PRIVATE KEY-----\")"),
            (b"-----BEGIN PRIVATE KEY-----\nAAAA\n", "is not a valid PEM file: a section has no END line"),
        ];
        for (pem, expected) in cases {
            let error = ClientKey::from_pem(pem, None).unwrap_err();
            assert_eq!(error.to_string(), expected);
        }
    }

    #[test]
    fn an_encrypted_key_is_refused_with_the_command_that_decrypts_it() {
        let pem =
            b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        let error = ClientKey::from_pem(pem, None).unwrap_err();
        assert_eq!(error, KeyError::Encrypted);
        assert!(error.to_string().contains("openssl pkcs8 -topk8 -nocrypt"));
    }

    #[test]
    fn debug_output_never_shows_the_key() {
        let key = ClientKey::from_pem(RSA_PKCS8, None).unwrap();
        assert_eq!(format!("{key:?}"), "ClientKey(RS384, <redacted>)");
    }
}
