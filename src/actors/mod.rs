//! The supervised actor tree: thin shells that schedule and route; the work itself lives in
//! [`crate::ehr`], [`crate::store`] and [`crate::delivery`].
//!
//! ```text
//! Supervisor ──starts──▶ ConnectionActor (one per connection, supervised, on a worker)
//!                           │ owns its cursor, timer and EnricherActor
//!                           ▼ Enrich (one container, back-pressured)
//!                        EnricherActor ── Deliver ──▶ DeliveryActor (one per destination and worker)
//! ```
//! A panic inside a connection's work is caught at the connection's boundary and turned into
//! a stop, which actix's `Supervisor` answers with a restart; other connections never notice.

pub mod claims;
pub mod connection;
pub mod delivery;
pub mod dispatch;
pub mod enricher;
pub mod messages;
pub mod supervisor;

use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;

/// Runs `work`, turning a panic into an `Err` with the panic's message, so a bug in one
/// connection's work becomes that connection's restart instead of a dead actor.
pub async fn contain_panic<T>(work: impl Future<Output = T>) -> Result<T, String> {
    AssertUnwindSafe(work)
        .catch_unwind()
        .await
        .map_err(|panic| {
            panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic with a non-text payload".to_owned())
        })
}
