//! The integration-test binary: one binary for every suite, so the crate links once.

mod auth_retry;
mod cli;
mod destination_health;
mod fhir_subscription;
mod hostile;
mod isolation;
mod logs;
mod ordering;
mod pacing;
mod pipeline;
mod restart;
mod sekmet_auth;
mod sekmet_smoke;
mod signature_reference;
mod support;
mod tls;
