//! Talking to an EHR API: requests, feed pages, path templates and enrichment.

pub mod template;
