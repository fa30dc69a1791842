//! What Courier and the simulators must agree on, so both sides of a test or a benchmark
//! read the wire the same way; it imports nothing from Courier.
//!
//! - [`signing`]: Standard Webhooks signing and verification ([`SigningKey`]).
//! - [`ids`]: a notification's id ([`notification_id`]) and the text of a UUID
//!   ([`uuid_text`]).
//! - [`answer`]: which HTTP statuses count as a destination's acceptance ([`is_success`]).

pub mod answer;
pub mod ids;
pub mod signing;

pub use answer::is_success;
pub use ids::{notification_id, uuid_text};
pub use signing::{SecretError, SigningKey, VerifyError};
