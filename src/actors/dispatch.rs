//! The async work a `ConnectionActor` schedules, as a shell of [`crate::dispatch`]: walking
//! what the store holds, one poll, dispatching a promoted container and offering a probe.
//! Each container read is offered to the dispatch machine, which says whether it goes;
//! containers go to the enricher one at a time, waiting for room, so a slow enricher slows
//! the connection instead of filling memory.

use std::collections::HashSet;
use std::sync::Arc;

use actix::prelude::*;

use super::claims::{Claim, Claims};
use super::connection::ConnectionDeps;
use super::enricher::EnricherActor;
use super::messages::Enrich;
use crate::delivery::gate::Probe;
use crate::dispatch::{Action, Event, Found, Seen};
use crate::ehr::{EhrClient, Source};
use crate::escape::escaped;
use crate::model::Container;
use crate::pipeline::{poll_page, PageResult, PollError};
use crate::status::ConnectionState;
use crate::store::{Store, StoreError};

/// What dispatching reads and feeds: the connection's id, its store and its dispatch.
#[derive(Clone, Copy)]
pub struct Dispatcher<'a> {
    /// The connection's id.
    pub id: &'a str,
    /// The store holding its containers.
    pub store: &'a Store,
    /// Its dispatch.
    pub claims: &'a Arc<Claims>,
}

impl Dispatcher<'_> {
    /// Feeds `event`, answers what to do.
    fn on(&self, event: Event<'_>) -> Vec<Action> {
        self.claims.on(event)
    }

    /// What the machine needs from outside now.
    pub fn seen(&self) -> Seen {
        self.claims.seen(self.store.reopens())
    }

    /// The step ended, its containers handed over or not (`whole`).
    fn step_ended(&self, whole: bool) {
        let seen = self.seen();
        self.on(Event::StepEnded { seen, whole });
    }
}

/// Re-dispatches every stored container of the connection that is not in flight, in
/// sequence order, then tells the machine whether the walk caught up (it did not when the
/// destination changed state or a container was let go on the way: it may be behind the
/// walk, and a later one of its key must not overtake it). An unreadable container is
/// reported and skipped, so one bad record cannot hold back the rest.
pub async fn recover(d: Dispatcher<'_>, enricher: &Addr<EnricherActor>) -> Result<(), PollError> {
    let id = d.id;
    if d.on(Event::WalkBegins(d.seen())).contains(&Action::Halt) {
        d.step_ended(false);
        return Ok(());
    }
    let (mut dispatched, mut unreadable) = (0usize, 0usize);
    let mut walk = d.store.pending(id, 0);
    while let Some(entry) = walk.next().await {
        let container = match entry {
            Ok(container) => container,
            Err(err @ StoreError::Corrupt { .. }) => {
                log::error!("conn={id} skipping a pending container: {}", escaped(&err));
                unreadable += 1;
                continue;
            }
            Err(err) => return Err(err.into()),
        };
        match hand_over(d, enricher, container, Found::Walk).await? {
            HandOver::Sent => dispatched += 1,
            HandOver::Skipped => {}
            HandOver::Halted | HandOver::EnricherGone => {
                d.step_ended(false);
                return Ok(());
            }
        }
    }
    if dispatched + unreadable > 0 {
        log::info!("conn={id} dispatched {dispatched} stored containers ({unreadable} unreadable)");
    }
    d.step_ended(true);
    Ok(())
}

/// One poll: one page made durable (by [`crate::pipeline`]), then its containers handed
/// over while the connection is still caught up where it was when the step began. Tells the
/// machine whether every container of the page was handed over: when not, the connection
/// must walk the store before dispatching from a page again.
pub async fn poll(
    deps: &ConnectionDeps,
    client: &EhrClient,
    source: &Source,
    enricher: &Addr<EnricherActor>,
    page_size: Option<usize>,
) -> Result<PageResult, PollError> {
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
    let (config, store) = (&deps.config, &deps.store);
    let mut page = poll_page(source, client, config, store, page_size, &warn).await?;
    show_stored(deps, &page);
    // The containers move on to the enricher; the page keeps only their count.
    let containers = std::mem::take(&mut page.containers);
    deps.board
        .journal()
        .created(&deps.destination.id, &containers);
    let d = deps.dispatcher();
    for container in containers {
        if let HandOver::Halted | HandOver::EnricherGone =
            hand_over(d, enricher, container, Found::Page).await?
        {
            d.step_ended(false);
            return Ok(page);
        }
    }
    d.step_ended(true);
    Ok(page)
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

/// Dispatches the container that `claim` promoted (next of its key), if still pending; lets
/// it go otherwise.
pub async fn promoted(
    d: Dispatcher<'_>,
    enricher: &Addr<EnricherActor>,
    claim: Claim,
) -> Result<(), StoreError> {
    let container = match d.store.container(d.id, claim.sequence()).await {
        Ok(Some(container)) => container,
        Ok(None) => {
            claim.let_go();
            return Ok(());
        }
        Err(err) => {
            claim.let_go();
            return Err(err);
        }
    };
    send(enricher, container, claim, None).await;
    Ok(())
}

/// How many stored containers are read, oldest first, to choose a probe among.
const PROBE_CANDIDATES_AT_MOST: usize = 256;

/// Chooses one stored container to probe the failing destination with `probe`, and claims
/// it: the `turn`-th, in rotation, of the oldest containers that are not in flight and come
/// first of their key (so a probe never overtakes an older container of its key).
/// Successive probes so try different records. From its claim on, the probe travels with
/// it (see [`crate::dispatch`]); `None` when there is none to probe with.
pub async fn choose_probe(
    d: Dispatcher<'_>,
    probe: &Probe,
    turn: usize,
) -> Result<Option<(Container, Claim)>, StoreError> {
    let (mut keys, mut candidates) = (HashSet::new(), Vec::new());
    let oldest = d
        .store
        .pending_page(d.id, 0, PROBE_CANDIDATES_AT_MOST)
        .await?;
    for entry in oldest.items {
        let container = match entry {
            Ok(container) => container,
            Err(StoreError::Corrupt { .. }) => continue,
            Err(err) => return Err(err),
        };
        let first = d
            .claims
            .key_of(&container)
            .is_none_or(|key| keys.insert(key));
        if first && d.claims.is_free(container.sequence) {
            candidates.push(container.sequence);
        }
    }
    let Some(sequence) = candidates.get(turn % candidates.len().max(1)) else {
        return Ok(None);
    };
    let Some(container) = d.store.container(d.id, *sequence).await? else {
        return Ok(None);
    };
    let found = Found::Probe(probe.token());
    Ok(claim_pending(d, &container, found)
        .await?
        .map(|claim| (container, claim)))
}

enum HandOver {
    /// Sent to the enricher, or waiting behind an earlier container of its key.
    Sent,
    /// In flight already, or delivered since it was read.
    Skipped,
    /// The connection is no longer caught up: hand nothing more over.
    Halted,
    /// The enricher stopped (shutdown or restart): the container stays pending.
    EnricherGone,
}

/// Claims `container` and sends it to the enricher, unless it is in flight, waits behind an
/// earlier container of its key, was completed between being read and being claimed (a
/// delivery of the previous generation finishing), or the connection is no longer caught up.
async fn hand_over(
    d: Dispatcher<'_>,
    enricher: &Addr<EnricherActor>,
    container: Container,
    found: Found,
) -> Result<HandOver, StoreError> {
    let actions = d.on(Event::Offered(&container, found, d.seen()));
    match actions.first() {
        Some(Action::Queued) => return Ok(HandOver::Sent),
        Some(Action::Halt) => return Ok(HandOver::Halted),
        _ => {}
    }
    let Some(claim) = claimed(d, &container, &actions).await? else {
        return Ok(HandOver::Skipped);
    };
    match send(enricher, container, claim, None).await {
        true => Ok(HandOver::Sent),
        false => Ok(HandOver::EnricherGone),
    }
}

/// Offers `container` (found by `found`) to the machine; answers its claim when it may go.
async fn claim_pending(
    d: Dispatcher<'_>,
    container: &Container,
    found: Found,
) -> Result<Option<Claim>, StoreError> {
    let actions = d.on(Event::Offered(container, found, d.seen()));
    claimed(d, container, &actions).await
}

/// The claim the machine's `actions` gave `container`, once it is known to be pending: one
/// read from the store may have been completed by a delivery between the read and the
/// claim (then the claim is finished, releasing the next of its key).
async fn claimed(
    d: Dispatcher<'_>,
    container: &Container,
    actions: &[Action],
) -> Result<Option<Claim>, StoreError> {
    let Some(&Action::Enrich { ticket, verify }) = actions.first() else {
        return Ok(None);
    };
    let claim = d.claims.claim(ticket);
    if verify {
        match d.store.is_pending(d.id, container.sequence).await {
            Ok(true) => {}
            Ok(false) => {
                claim.finish();
                return Ok(None);
            }
            Err(err) => {
                claim.let_go();
                return Err(err);
            }
        }
    }
    Ok(Some(claim))
}

/// Sends `container` to the enricher with its claim (and probe); answers whether the enricher
/// took it. When it did not (it stopped), the container stays pending: its claim is let go
/// (giving back the probe that travels with it).
pub async fn send(
    enricher: &Addr<EnricherActor>,
    container: Container,
    claim: Claim,
    probe: Option<Probe>,
) -> bool {
    let kept = claim.clone();
    let sent = enricher
        .send(Enrich {
            container,
            claim,
            probe,
        })
        .await;
    if sent.is_err() {
        kept.let_go();
    }
    sent.is_ok()
}
