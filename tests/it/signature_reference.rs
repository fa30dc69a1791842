//! Our Standard Webhooks signatures checked against the official library in both directions,
//! so a receiver using any conforming library accepts what Courier sends.

use courier::delivery::signing::SigningKey;
use serde_json::json;

use crate::support::python::{reference_sign, reference_verify, SignedMessage};

/// Bodies that stress what is signed: plain ASCII, multi-byte UTF-8, the smallest JSON object,
/// and a body of several megabytes.
fn bodies() -> Vec<Vec<u8>> {
    let large = json!({
        "type": "appointment.updated",
        "data": {"resources": {"blob": "0123456789abcdef".repeat(256 * 1024)}},
    });
    vec![
        br#"{"type":"appointment.updated","data":{"sequence":1,"key":"appt-1"}}"#.to_vec(),
        "{\"note\":\"Zoë Ñandú — 患者 🩺 \\\"quoted\\\" \\n\"}"
            .as_bytes()
            .to_vec(),
        b"{}".to_vec(),
        serde_json::to_vec(&large).unwrap(),
    ]
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn sign(secret: &str, id: &str, body: &[u8]) -> SignedMessage {
    let timestamp = now();
    let key = SigningKey::from_secret(secret).unwrap();
    SignedMessage {
        id: id.to_owned(),
        timestamp: timestamp.to_string(),
        signature: key.sign(id, timestamp, body),
        body: body.to_vec(),
    }
}

fn signed_bodies(secret: &str) -> Vec<SignedMessage> {
    let bodies = bodies();
    let ids = (0..bodies.len()).map(|n| format!("msg_{n:032x}"));
    ids.zip(&bodies)
        .map(|(id, body)| sign(secret, &id, body))
        .collect()
}

#[test]
fn our_signatures_verify_with_the_reference_library() {
    let secret = SigningKey::generate_secret();
    let messages = signed_bodies(&secret);
    assert_eq!(
        reference_verify(&secret, &messages),
        vec![true; messages.len()]
    );
}

#[test]
fn a_tampered_body_fails_reference_verification() {
    let secret = SigningKey::generate_secret();
    let original = sign(&secret, "msg_tamper", br#"{"data":{"sequence":41}}"#);
    let mut tampered = original.clone();
    tampered.body = br#"{"data":{"sequence":42}}"#.to_vec();
    let mut padded = original.clone();
    padded.body.push(b' ');
    assert_eq!(
        reference_verify(&secret, &[original, tampered, padded]),
        [true, false, false]
    );
}

#[test]
fn a_tampered_id_or_timestamp_fails_reference_verification() {
    let secret = SigningKey::generate_secret();
    let original = sign(&secret, "msg_headers", b"{}");
    let mut other_id = original.clone();
    other_id.id = "msg_other".to_owned();
    let mut other_time = original.clone();
    let signed_at: i64 = original.timestamp.parse().unwrap();
    other_time.timestamp = (signed_at - 1).to_string();
    assert_eq!(
        reference_verify(&secret, &[original, other_id, other_time]),
        [true, false, false]
    );
}

#[test]
fn a_signature_made_with_another_secret_fails_reference_verification() {
    let ours = SigningKey::generate_secret();
    let theirs = SigningKey::generate_secret();
    let messages = signed_bodies(&ours);
    assert_eq!(
        reference_verify(&theirs, &messages),
        vec![false; messages.len()]
    );
}

#[test]
fn reference_signatures_verify_with_our_key() {
    let secret = SigningKey::generate_secret();
    let key = SigningKey::from_secret(&secret).unwrap();
    let other = SigningKey::from_secret(&SigningKey::generate_secret()).unwrap();
    for (n, body) in bodies().iter().enumerate() {
        let id = format!("msg_ref_{n}");
        let timestamp = now();
        let signature = reference_sign(&secret, &id, timestamp, body);
        // Identical bytes, not just an equivalent signature: both are deterministic HMACs.
        assert_eq!(signature, key.sign(&id, timestamp, body), "body {n}");
        let ts = timestamp.to_string();
        assert_eq!(key.verify(&id, &ts, &signature, body, now(), 300), Ok(()));
        assert!(other
            .verify(&id, &ts, &signature, body, now(), 300)
            .is_err());
    }
}

#[test]
fn a_header_with_a_rotated_out_signature_still_verifies_with_the_reference_library() {
    let old = SigningKey::generate_secret();
    let new = SigningKey::generate_secret();
    let mut message = sign(&new, "msg_rotation", br#"{"type":"rotation"}"#);
    let stale = sign(&old, "msg_rotation", br#"{"type":"rotation"}"#);
    message.signature = format!("{} {}", stale.signature, message.signature);
    let only_stale = stale.clone();
    assert_eq!(
        reference_verify(&new, &[message, only_stale]),
        [true, false]
    );
}
