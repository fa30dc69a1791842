//! FHIR R4: what changed in a resource between two polls, and the FHIR-native shapes Courier
//! produces.
//!
//! Pure code with no actors and no store, so the semantics are testable on their own.

pub mod events;
pub mod subscription;

#[cfg(test)]
pub(crate) mod testdata;
