//! Helpers shared by the integration suites.

pub mod admin;
pub mod app;
pub mod cluster;
pub mod console_session;
pub mod fhir;
pub mod fhir_library;
pub mod loopback_http;
pub mod periods;
pub mod process;
pub mod python;
pub mod sekmet;
pub mod snapshot;
pub mod tls;
pub mod venv;
