//! Runs the official Standard Webhooks Python library (`standardwebhooks`), the reference
//! implementation our signatures must agree with byte for byte.
//!
//! The library is installed once per target directory into a virtualenv (see [`Venv`] for how
//! concurrent tests and processes share it).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

use super::venv::Venv;

/// The library version the reference check pins, so an upstream release cannot change a
/// verdict without a commit here.
const LIBRARY: &str = "standardwebhooks==1.1.0";

/// The script that calls the library; kept beside this file so it can be read and run alone.
const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/it/support/verify_standardwebhooks.py"
);

/// One message as a receiver sees it: the three Standard Webhooks headers and the raw body.
#[derive(Debug, Clone)]
pub struct SignedMessage {
    /// `webhook-id`.
    pub id: String,
    /// `webhook-timestamp`, Unix seconds as text.
    pub timestamp: String,
    /// `webhook-signature`, one or more space-separated `v1,<base64>`.
    pub signature: String,
    /// The exact bytes that were signed and sent.
    pub body: Vec<u8>,
}

/// Whether the reference library accepts each message with `secret`, in order.
pub fn reference_verify(secret: &str, messages: &[SignedMessage]) -> Vec<bool> {
    let messages: Vec<Value> = messages
        .iter()
        .map(|m| {
            json!({
                "id": m.id,
                "timestamp": m.timestamp,
                "signature": m.signature,
                "body_b64": STANDARD.encode(&m.body),
            })
        })
        .collect();
    let answer = run_script(json!({"op": "verify", "secret": secret, "messages": messages}));
    serde_json::from_value(answer).expect("the script answers a list of booleans")
}

/// The `webhook-signature` value the reference library makes for one message; the body must
/// be UTF-8, as the library signs text.
pub fn reference_sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    let message = json!({"id": id, "timestamp": timestamp, "body_b64": STANDARD.encode(body)});
    let answer = run_script(json!({"op": "sign", "secret": secret, "messages": [message]}));
    let signatures: Vec<String> =
        serde_json::from_value(answer).expect("the script answers a list of signatures");
    signatures.into_iter().next().expect("one signature")
}

/// Runs the script with `request` on stdin and returns its JSON answer; panics with the
/// script's stderr when it fails.
fn run_script(request: Value) -> Value {
    Venv::of(LIBRARY).run_json_script(SCRIPT, &request, "Standard Webhooks reference")
}
