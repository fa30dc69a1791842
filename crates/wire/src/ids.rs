//! Ids on the wire: a notification's id, which receivers deduplicate on and the torture's
//! ledger recomputes, and the text of a UUID, which FHIR-shaped notifications and the
//! simulated FHIR server both write.

use sha2::{Digest, Sha256};

/// The notification id of a record version: a hash of connection, key and version, so every
/// retry, restart and re-poll of the same change carries the same id and receivers can drop
/// duplicates.
pub fn notification_id(connection: &str, key: &str, version: &str) -> String {
    let mut hash = Sha256::new();
    for part in [connection, key, version] {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    let digest = hash.finalize();
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = String::with_capacity(4 + 32);
    id.push_str("msg_");
    for byte in &digest[..16] {
        id.push(char::from(HEX[usize::from(byte >> 4)]));
        id.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    id
}

/// The usual text of a UUID: 32 hex digits in groups of 8-4-4-4-12.
pub fn uuid_text(bytes: [u8; 16]) -> String {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notification_id_is_deterministic_and_distinguishes_each_part() {
        let id = notification_id("clinic-a", "appt-1", "3");
        assert_eq!(id, notification_id("clinic-a", "appt-1", "3"));
        // Stored ids and receivers' dedup tables depend on it: the same text in every version.
        assert_eq!(id, "msg_7b73829705d8612e77a4d7a9fbb324b5");
        assert!(id.starts_with("msg_") && id.len() == 36);
        assert_ne!(id, notification_id("clinic-b", "appt-1", "3"));
        assert_ne!(id, notification_id("clinic-a", "appt-1", "4"));
        // Length-prefixing keeps ("ab","c") and ("a","bc") apart.
        assert_ne!(
            notification_id("x", "ab", "c"),
            notification_id("x", "a", "bc")
        );
    }
}
