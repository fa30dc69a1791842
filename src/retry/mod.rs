//! When to try again: the delivery retry schedule, the EHR backoff, `Retry-After` and status
//! classification, as pure functions so every rule is unit-tested without a clock or a network.
//!
//! Two policies live here because the two sides fail differently. A destination gets an
//! explicit, finite schedule per notification (then the notification is dead-lettered, so an
//! operator sees it). An EHR is polled forever, so its failures only stretch the poll interval
//! with an exponential [`Backoff`] that success resets.
//!
//! Nothing here imports from the rest of the crate, so both sides use these rules without
//! depending on each other.

mod backoff;
mod classify;
mod retry_after;
mod schedule;

pub use backoff::Backoff;
pub use classify::{is_retriable_ehr_status, refuses_content};
pub use retry_after::parse_retry_after;
pub use schedule::{
    jitter_sample, next_delivery_delay, probe_delay, JITTER_FRACTION, PROBE_DELAY_AT_MOST,
};
