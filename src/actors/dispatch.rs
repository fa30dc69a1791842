//! The async work a `ConnectionActor` schedules: walking what the store holds, one poll, and
//! dispatching a promoted container. Containers go to the enricher one at a time, waiting for
//! room, so a slow enricher slows the connection instead of filling memory; and only while
//! the destination accepts notifications: otherwise they stay in the store, and the
//! connection dispatches nothing from a page until a walk of the store during one healthy
//! period of the destination (one epoch of its gate) caught up.

use std::collections::HashSet;

use actix::prelude::*;

use super::claims::{Admission, Claim};
use super::connection::ConnectionDeps;
use super::enricher::EnricherActor;
use super::messages::Enrich;
use crate::delivery::gate::Probe;
use crate::ehr::poll::{PageResult, PollError, Source};
use crate::ehr::EhrClient;
use crate::escape::escaped;
use crate::model::Container;
use crate::status::ConnectionState;
use crate::store::StoreError;

/// Re-dispatches every stored container of the connection that is not in flight, in
/// sequence order. Answers the mark the walk caught up at, or `None` when the destination
/// changed state or a container was let go on the way (it may be behind the walk, and a
/// later one of its key must not overtake it). An unreadable container is reported and
/// skipped, so one bad record cannot hold back the rest.
pub async fn recover(
    deps: &ConnectionDeps,
    enricher: &Addr<EnricherActor>,
) -> Result<Option<Mark>, PollError> {
    let id = &deps.config.id;
    let Some(start) = mark(deps) else {
        return Ok(None);
    };
    let (mut dispatched, mut unreadable) = (0usize, 0usize);
    let mut walk = deps.store.pending(id, 0);
    while let Some(entry) = walk.next().await {
        if mark(deps) != Some(start) {
            return Ok(None);
        }
        let container = match entry {
            Ok(container) => container,
            Err(err @ StoreError::Corrupt { .. }) => {
                log::error!("conn={id} skipping a pending container: {}", escaped(&err));
                unreadable += 1;
                continue;
            }
            Err(err) => return Err(err.into()),
        };
        match hand_over(deps, enricher, container, Read::FromStore).await? {
            HandOver::Sent => dispatched += 1,
            HandOver::Skipped => {}
            HandOver::EnricherGone => return Ok(None),
        }
    }
    if dispatched + unreadable > 0 {
        log::info!("conn={id} dispatched {dispatched} stored containers ({unreadable} unreadable)");
    }
    Ok(mark(deps).filter(|now| *now == start))
}

/// One poll: one page made durable, then its containers handed over while the
/// connection is still caught up at `caught_up`. Also says whether every container of the
/// page was handed over: when not, the connection must walk the store before dispatching
/// from a page again.
pub async fn poll(
    deps: &ConnectionDeps,
    client: &EhrClient,
    source: &Source,
    enricher: &Addr<EnricherActor>,
    page_size: Option<usize>,
    caught_up: Option<Mark>,
) -> Result<(PageResult, bool), PollError> {
    deps.board
        .connection(&deps.config.id, |c| c.state = ConnectionState::Polling);
    let id = &deps.config.id;
    // Each warning is logged when it appears and when it goes, not at every poll.
    let warn = |now: &[String]| {
        deps.board.connection(id, |c| {
            for message in now.iter().filter(|m| !c.warnings.contains(m)) {
                log::warn!("conn={id} {}", escaped(message));
            }
            for message in c.warnings.iter().filter(|m| !now.contains(m)) {
                log::info!("conn={id} no longer: {}", escaped(message));
            }
            if c.warnings != now {
                c.warnings = now.to_vec();
            }
        });
    };
    let mut page = source
        .poll_page(client, &deps.config, &deps.store, page_size, &warn)
        .await?;
    show_stored(deps, &page);
    // The containers move on to the enricher; the page keeps only their count.
    let containers = std::mem::take(&mut page.containers);
    if caught_up.is_none() {
        return Ok((page, containers.is_empty()));
    }
    for container in containers {
        if mark(deps) != caught_up {
            return Ok((page, false));
        }
        if let HandOver::EnricherGone =
            hand_over(deps, enricher, container, Read::JustCommitted).await?
        {
            return Ok((page, false));
        }
    }
    Ok((page, true))
}

/// Shows what a page stored as soon as it is durable, before its containers are handed over:
/// handing over a large page waits for the enricher, and meanwhile status must not say
/// `changes 0`, `cursor null` while tens of thousands are stored.
fn show_stored(deps: &ConnectionDeps, page: &PageResult) {
    deps.board.connection(&deps.config.id, |c| {
        c.cursor = Some(page.cursor.to_string());
        c.changes += page.created as u64;
        c.items_behind_cursor += page.behind as u64;
    });
}

/// Dispatches the container that `claim` promoted (next of its key), if still pending.
pub async fn promoted(
    deps: &ConnectionDeps,
    enricher: &Addr<EnricherActor>,
    claim: Claim,
) -> Result<(), StoreError> {
    // Dropping the claim when it is no longer pending promotes the next of its key.
    if let Some(container) = deps
        .store
        .container(&deps.config.id, claim.sequence())
        .await?
    {
        let probe = None;
        let _ = enricher
            .send(Enrich {
                container,
                claim,
                probe,
            })
            .await;
    }
    Ok(())
}

/// Where a connection stands with its store: caught up (every stored container dispatched,
/// or waiting behind its key) during one healthy period of the gate, with no container let go
/// since. Pages are dispatched from memory only while the mark still holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    /// The gate's epoch.
    epoch: u64,
    /// The claims' count of containers let go.
    let_go: u64,
    /// The store's count of re-opens after a write fault: the files re-opened can hold what
    /// memory had already let go (a removal that never reached the disk) or a page whose
    /// flush failed after it was written, neither of them dispatched.
    reopens: u64,
}

/// The mark now, if the destination accepts notifications.
pub fn mark(deps: &ConnectionDeps) -> Option<Mark> {
    let let_go = deps.claims.let_go_count();
    let epoch = deps.gate.open_epoch()?;
    let reopens = deps.store.reopens();
    Some(Mark {
        epoch,
        let_go,
        reopens,
    })
}

/// How many stored containers are read, oldest first, to choose a probe among.
const PROBE_CANDIDATES_AT_MOST: usize = 256;

/// Sends one stored container to probe the failing destination: the `turn`-th, in rotation,
/// of the oldest containers that are not in flight and come first of their key (so a probe
/// never overtakes an older container of its key). Successive probes so try different
/// records. Answers whether one was sent; if not, dropping `probe` frees the slot, and the
/// next poll offers again.
pub async fn offer_probe(
    deps: &ConnectionDeps,
    enricher: &Addr<EnricherActor>,
    probe: Probe,
    turn: usize,
) -> Result<bool, StoreError> {
    let id = &deps.config.id;
    let (mut keys, mut candidates) = (HashSet::new(), Vec::new());
    let oldest = deps
        .store
        .pending_page(id, 0, PROBE_CANDIDATES_AT_MOST)
        .await?;
    for entry in oldest.items {
        let container = match entry {
            Ok(container) => container,
            Err(StoreError::Corrupt { .. }) => continue,
            Err(err) => return Err(err),
        };
        let first = deps
            .claims
            .key_of(&container)
            .is_none_or(|key| keys.insert(key));
        if first && deps.claims.is_free(container.sequence) {
            candidates.push(container.sequence);
        }
    }
    let Some(sequence) = candidates.get(turn % candidates.len().max(1)) else {
        return Ok(false);
    };
    let Some(container) = deps.store.container(id, *sequence).await? else {
        return Ok(false);
    };
    let Admission::Go(claim) = deps.claims.admit(&container) else {
        return Ok(false);
    };
    // Read before the claim: a delivery may have completed it in between.
    if !deps.store.is_pending(id, container.sequence).await? {
        claim.finish();
        return Ok(false);
    }
    let probe = Some(probe);
    Ok(enricher
        .send(Enrich {
            container,
            claim,
            probe,
        })
        .await
        .is_ok())
}

enum HandOver {
    /// Sent to the enricher, or waiting behind an earlier container of its key.
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

/// Claims `container` and sends it to the enricher, unless it is in flight, waits behind an
/// earlier container of its key, or was completed between being read and being claimed (a
/// delivery of the previous generation finishing).
async fn hand_over(
    deps: &ConnectionDeps,
    enricher: &Addr<EnricherActor>,
    container: Container,
    read: Read,
) -> Result<HandOver, StoreError> {
    let claim = match deps.claims.admit(&container) {
        Admission::Go(claim) => claim,
        Admission::Waits => return Ok(HandOver::Sent),
        Admission::Taken => return Ok(HandOver::Skipped),
    };
    if read == Read::FromStore
        && !deps
            .store
            .is_pending(&deps.config.id, container.sequence)
            .await?
    {
        claim.finish();
        return Ok(HandOver::Skipped);
    }
    let probe = None;
    match enricher
        .send(Enrich {
            container,
            claim,
            probe,
        })
        .await
    {
        Ok(()) => Ok(HandOver::Sent),
        Err(_) => Ok(HandOver::EnricherGone),
    }
}
