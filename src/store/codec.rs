//! How a stored record is written and read back: the same JSON in every backend (sled's
//! trees, PostgreSQL's `bytea` columns), so `courier store copy` moves bytes, not meanings.

use serde::{Deserialize, Serialize};

use super::StoreError;

/// A record's bytes.
pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("store records always serialize")
}

/// A record read back; the error names `key` and the parser's position, never the value (it
/// may be patient data).
pub(crate) fn decode<T: for<'de> Deserialize<'de>>(
    key: &str,
    bytes: &[u8],
) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|err| StoreError::Corrupt {
        key: key.to_owned(),
        reason: format!(
            "{:?} error at line {} column {}",
            err.classify(),
            err.line(),
            err.column()
        ),
    })
}
