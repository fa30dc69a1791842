//! The integration-test binary: one binary for every suite, so the crate links once.

mod cli;
mod hostile;
mod isolation;
mod logs;
mod pipeline;
mod restart;
mod signature_reference;
mod support;
