//! The integration-test binary: one binary for every suite, so the crate links once.

mod isolation;
mod pipeline;
mod signature_reference;
mod support;
