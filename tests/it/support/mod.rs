//! Helpers shared by the integration suites.

pub mod app;
pub mod process;
pub mod python;
pub mod tls;
