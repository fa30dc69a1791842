//! Talking to an EHR API: authentication, requests, the sources (a changes feed, a FHIR
//! server, a consume-once feed) that read one page into an outcome, and enrichment.
//!
//! Plain async code with no actors and no store, so each piece is testable on its own: a
//! source is given where it stands and answers what it found; [`crate::pipeline`] makes that
//! durable, and the actors in [`crate::actors`] only decide when it runs.

pub mod auth;
pub mod changes;
pub mod client;
pub mod consume;
pub mod enrich;
pub mod error;
pub mod feed;
pub mod fhir;
pub mod snapshot;
pub mod source;

pub use auth::Authenticator;
pub use client::EhrClient;
pub use error::{EhrError, TimeoutPhase};
pub use source::Source;

#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
pub(crate) mod loopback;
