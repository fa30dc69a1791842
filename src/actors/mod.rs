//! The supervised actor tree: thin shells that schedule and route; the work itself lives in
//! [`crate::ehr`], [`crate::store`] and [`crate::delivery`], and which container may move
//! when is decided by [`crate::dispatch`], whose events the actors feed and whose actions
//! they carry out.
//!
//! ```text
//! Supervisor ──starts──▶ ConnectionActor (one per connection, supervised, on a worker)
//!                           │ owns its cursor, timer, EnricherActor (and HeartbeatActor)
//!                           ▼ Enrich (one container, back-pressured)
//!                        EnricherActor ── Deliver ──▶ DeliveryActor (one per destination and worker)
//! ```
//! A panic inside a connection's work is caught at the connection's boundary and turned into
//! a stop, which actix's `Supervisor` answers with a restart; other connections never notice.

pub mod claims;
pub mod completions;
pub mod connection;
pub mod control;
pub mod delivery;
pub mod dispatch;
pub mod enricher;
pub mod heartbeat;
pub mod messages;
pub mod retention;
pub mod supervisor;

#[cfg(test)]
pub(crate) mod faults;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use actix::prelude::*;
use futures_util::FutureExt;
use tokio::sync::Semaphore;

/// How the enricher and delivery actors take work: the sender's `send().await` resolves once
/// `room` has a permit (that wait is the back-pressure), then the future that `start` builds
/// in the actor's context runs alongside the actor's other work, holding the permit until it
/// ends. Stopping the actor cancels it.
pub fn admit<A, W>(
    room: &Arc<Semaphore>,
    start: impl FnOnce(&mut A) -> W + 'static,
) -> ResponseActFuture<A, ()>
where
    A: Actor<Context = Context<A>>,
    W: Future<Output = ()> + 'static,
{
    let room = Arc::clone(room);
    let permit = async move {
        room.acquire_owned()
            .await
            .expect("the semaphore is never closed")
    };
    Box::pin(
        actix::fut::wrap_future::<_, A>(permit).map(move |permit, act, ctx| {
            // Boxed where it is made: the work (a whole enrichment or delivery, kilobytes of
            // state) is then moved into the spawned task as a pointer, not copied.
            let work = Box::pin(start(act));
            ctx.spawn(actix::fut::wrap_future(async move {
                work.await;
                drop(permit);
            }));
        }),
    )
}

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
