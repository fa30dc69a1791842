//! The async work a `ConnectionActor` schedules: recovering what the store holds, and one
//! poll. Both hand containers to the enricher one at a time, waiting for room, so a slow
//! enricher slows the connection instead of filling memory.

use actix::prelude::*;

use super::claims::Claims;
use super::connection::ConnectionDeps;
use super::enricher::EnricherActor;
use super::messages::Enrich;
use crate::ehr::fhir::metadata::unsupported_message;
use crate::ehr::poll::{PageResult, PollError, Source};
use crate::ehr::EhrClient;
use crate::model::Container;
use crate::status::ConnectionState;
use crate::store::StoreError;

/// Re-dispatches every stored container of the connection that is not in flight, in
/// sequence order. An unreadable container is reported and skipped, so one bad record cannot
/// hold back the rest.
pub async fn recover(
    deps: &ConnectionDeps,
    generation: u64,
    enricher: &Addr<EnricherActor>,
) -> Result<(), PollError> {
    let id = &deps.config.id;
    let (mut dispatched, mut unreadable) = (0usize, 0usize);
    for entry in deps.store.pending(id, 0) {
        let container = match entry {
            Ok(container) => container,
            Err(err @ StoreError::Corrupt { .. }) => {
                log::error!("conn={id} skipping a pending container: {err}");
                unreadable += 1;
                continue;
            }
            Err(err) => return Err(err.into()),
        };
        match hand_over(deps, generation, enricher, container, Read::FromStore).await? {
            HandOver::Sent => dispatched += 1,
            HandOver::Skipped => {}
            HandOver::EnricherGone => return Ok(()),
        }
    }
    if dispatched + unreadable > 0 {
        log::info!("conn={id} recovered {dispatched} pending containers ({unreadable} unreadable)");
    }
    Ok(())
}

/// Dispatches the pending containers `sequences` (dead letters sent back to pending), in
/// the order given; those in flight or gone already are skipped.
pub async fn redispatch(
    deps: &ConnectionDeps,
    generation: u64,
    enricher: &Addr<EnricherActor>,
    sequences: &[u64],
) -> Result<(), StoreError> {
    let id = &deps.config.id;
    for &sequence in sequences {
        let Some(container) = deps.store.pending(id, sequence).next().transpose()? else {
            break;
        };
        if container.sequence != sequence {
            continue;
        }
        let handed = hand_over(deps, generation, enricher, container, Read::FromStore);
        if let HandOver::EnricherGone = handed.await? {
            break;
        }
    }
    Ok(())
}

/// One poll: the test hook, one page made durable, then its containers dispatched.
pub async fn poll(
    deps: &ConnectionDeps,
    generation: u64,
    client: &EhrClient,
    source: &Source,
    enricher: &Addr<EnricherActor>,
    page_size: Option<usize>,
) -> Result<PageResult, PollError> {
    if let Some(hook) = &deps.poll_hook {
        hook(&deps.config.id);
    }
    deps.board
        .connection(&deps.config.id, |c| c.state = ConnectionState::Polling);
    let id = &deps.config.id;
    let warn = |type_name: &str| {
        let message = unsupported_message(type_name);
        log::warn!("conn={id} {message}");
        deps.board.connection(id, |c| {
            if !c.warnings.contains(&message) {
                c.warnings.push(message.clone());
            }
        });
    };
    let mut page = source
        .poll_page(client, &deps.config, &deps.store, page_size, &warn)
        .await?;
    // The containers move on to the enricher; the page keeps only their count.
    for container in std::mem::take(&mut page.containers) {
        let handed = hand_over(deps, generation, enricher, container, Read::JustCommitted);
        if let HandOver::EnricherGone = handed.await? {
            break;
        }
    }
    Ok(page)
}

enum HandOver {
    Sent,
    /// In flight already, or delivered since it was read.
    Skipped,
    /// The enricher stopped (shutdown or restart): the container stays pending.
    EnricherGone,
}

/// Where a container being handed over was read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Read {
    /// From the store's pending containers: a delivery of the previous generation may have
    /// completed it between the read and the claim.
    FromStore,
    /// Created by this poll's commit a moment ago: nothing else has seen it, so it is pending
    /// (no store lookup per container on the hot path).
    JustCommitted,
}

/// Claims `container` and sends it to the enricher, unless it is in flight or was completed
/// between being read and being claimed (a delivery of the previous generation finishing).
async fn hand_over(
    deps: &ConnectionDeps,
    generation: u64,
    enricher: &Addr<EnricherActor>,
    container: Container,
    read: Read,
) -> Result<HandOver, StoreError> {
    let claims: &std::sync::Arc<Claims> = &deps.claims;
    let Some(claim) = claims.try_claim(container.sequence, generation) else {
        return Ok(HandOver::Skipped);
    };
    if read == Read::FromStore && !deps.store.is_pending(&deps.config.id, container.sequence)? {
        return Ok(HandOver::Skipped);
    }
    match enricher.send(Enrich { container, claim }).await {
        Ok(()) => Ok(HandOver::Sent),
        Err(_) => Ok(HandOver::EnricherGone),
    }
}
