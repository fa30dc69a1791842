//! Talking to an EHR API: authentication, requests, feed pages and enrichment.
//!
//! Plain async code with no actors, so each piece is testable on its own; the actors in
//! [`crate::actors`] only decide when these run.

pub mod auth;
pub mod client;
pub mod enrich;
pub mod error;
pub mod feed;
pub mod fhir;
pub mod poll;

pub use auth::Authenticator;
pub use client::EhrClient;
pub use error::{EhrError, TimeoutPhase};

#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
pub(crate) mod loopback;
