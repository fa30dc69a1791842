//! FHIR R4: what changed in a resource between two polls, and the FHIR-native shapes Courier
//! produces.
//!
//! Pure code with no actors and no store, so the semantics are testable on their own.

pub mod events;
pub mod subscription;

/// Whether `id` is a FHIR resource id (or version id): 1 to 64 of `A-Z a-z 0-9 - .`.
pub fn is_fhir_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
}

#[cfg(test)]
pub(crate) mod testdata;
