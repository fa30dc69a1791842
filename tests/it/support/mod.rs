//! Helpers shared by the integration suites.

pub mod app;
pub mod python;
