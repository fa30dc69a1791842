//! The integration-test binary: one binary for every suite, so the crate links once.

mod admin;
mod admin_cli;
mod admin_reload;
mod auth_retry;
mod cli;
mod dead_letters;
mod fhir_end_to_end;
mod fhir_probe;
mod fhir_sekmet;
mod fhir_source;
mod fhir_subscription;
mod heartbeats;
mod hostile;
mod isolation;
mod load_fhir;
mod logs;
mod pacing;
mod pipeline;
mod replay;
mod restart;
mod sekmet_auth;
mod sekmet_smoke;
mod signature_reference;
mod support;
mod tls;
