//! One poll of a snapshot scope made durable: a page of its listing compared with the stored
//! records and committed with them, or, once every page was read, a page of the sweep over
//! the stored records the listing did not list (see [`crate::ehr::snapshot`]).
//!
//! A page the EHR failed to answer is read again at the next poll (the listing keeps its
//! place); a commit that failed ends the listing, and the next poll starts a new one (what
//! earlier pages committed is stored, so it repeats nothing). Removals are only decided by a
//! listing whose every page was read and which was consistent.

use chrono::{DateTime, Utc};

use super::{PageResult, PollError};
use crate::config::ConnectionConfig;
use crate::ehr::snapshot::diff::{self, Confirmed, Phase, Unlisted};
use crate::ehr::snapshot::listing::{Lister, MAX_LISTING_PAGES};
use crate::ehr::snapshot::{marker, Listing, ListingState, Position, SnapshotReader, MARKER_KEY};
use crate::ehr::EhrClient;
use crate::model::{Container, CursorValue, RecordChange, RecordCommit, Recorded};
use crate::store::Store;

/// Stored records read per sweep page.
pub const SWEEP_PAGE: usize = 1_000;

/// What one poll of a listing did.
#[derive(Debug, Default)]
pub struct ListingStep {
    /// Containers created, durable and in sequence order.
    pub containers: Vec<Container>,
    /// Records the page listed (0 for a sweep page).
    pub returned: usize,
    /// The listing ended with this poll (the next one starts a new listing).
    pub done: bool,
    /// Where the listing stands, for status: `listing N page P` or `listing N sweep`.
    pub position: String,
}

/// The connection-wide parts of a poll.
pub struct Ctx<'a> {
    /// The connection.
    pub config: &'a ConnectionConfig,
    /// Its EHR client.
    pub client: &'a EhrClient,
    /// The store.
    pub store: &'a Store,
}

/// Reads and commits the next page of `lister`'s listing (starting one when none is under
/// way), or the next page of its sweep.
pub async fn poll_listing<L: Lister>(
    lister: &L,
    state: &ListingState,
    ctx: &Ctx<'_>,
) -> Result<ListingStep, PollError> {
    let mut listing = match state.take() {
        Some(listing) => listing,
        None => start(lister, ctx).await?,
    };
    let stepped = match listing.next.clone() {
        Some(position) => list_page(lister, &mut listing, &position, ctx).await,
        None => sweep_page(lister, &mut listing, state, ctx).await,
    };
    match &stepped {
        Ok(step) if step.done => {}
        // A store fault may have left the listing's own view ahead of the store: start over.
        Err(PollError::Store(_)) => {}
        _ => state.keep(listing),
    }
    stepped
}

/// One poll of a `source = "snapshot"` connection, as the pipeline reports every source's:
/// the listing's position is the cursor shown in status, and a listing under way asks to be
/// polled again at once (`more`), so a listing of many pages does not wait an interval per
/// page.
pub async fn poll_reader(reader: &SnapshotReader, ctx: &Ctx<'_>) -> Result<PageResult, PollError> {
    let step = poll_listing(&reader.lister, &reader.state, ctx).await?;
    Ok(PageResult {
        created: step.containers.len(),
        containers: step.containers,
        returned: step.returned,
        requested: None,
        cursor: CursorValue(step.position),
        // Every poll moves the listing on: a page read, or a sweep page walked.
        cursor_moved: true,
        behind: 0,
        more: !step.done,
    })
}

/// A new listing of `lister`'s scope, in the phase its marker says.
async fn start<L: Lister>(lister: &L, ctx: &Ctx<'_>) -> Result<Listing, PollError> {
    let id = &ctx.config.id;
    let marker_key = [MARKER_KEY.to_owned()];
    let stored = ctx.store.records(id, lister.scope(), &marker_key).await?;
    let completed = stored.into_iter().next().flatten().map(|m| m.revision);
    Ok(Listing::start(lister, ctx.client.clock().now(), completed))
}

/// Reads the page at `position`, compares it with the stored records and commits it.
async fn list_page<L: Lister>(
    lister: &L,
    listing: &mut Listing,
    position: &Position,
    ctx: &Ctx<'_>,
) -> Result<ListingStep, PollError> {
    let page = lister.page(ctx.client, &listing.query, position).await?;
    let (id, scope) = (&ctx.config.id, lister.scope());
    let keys: Vec<String> = page.records.iter().map(|r| r.key.clone()).collect();
    let before = ctx.store.records(id, scope, &keys).await?;
    let returned = page.records.len();
    let found = diff::diff_page(
        page.records,
        before,
        &mut listing.listed,
        listing.phase,
        lister.events(),
    );
    listing.duplicates += found.duplicates;
    listing.note_total(page.total);
    listing.pages += 1;
    listing.counts.listed += returned;
    listing.counts.created += found.created;
    listing.counts.updated += found.updated;
    let containers = commit(ctx, scope, found.changes, found.records).await?;
    listing.next = page.next;
    if listing.next.is_some() && listing.pages >= MAX_LISTING_PAGES {
        listing.cut = true;
        listing.next = None;
    }
    Ok(ListingStep {
        containers,
        returned,
        done: false,
        position: format!(
            "listing {} page {}",
            listing.completed_before + 1,
            listing.pages
        ),
    })
}

/// Sweeps the next page of stored records the listing did not list; the last page ends the
/// listing with its marker.
async fn sweep_page<L: Lister>(
    lister: &L,
    listing: &mut Listing,
    state: &ListingState,
    ctx: &Ctx<'_>,
) -> Result<ListingStep, PollError> {
    let (id, scope) = (&ctx.config.id, lister.scope());
    let inconsistent = listing.inconsistency();
    state.warn(inconsistent.clone());
    let scanned = match &inconsistent {
        // Only a consistent listing can tell what is gone.
        Some(_) => Vec::new(),
        None => {
            let after = listing.swept_to.as_deref();
            ctx.store.scan_records(id, scope, after, SWEEP_PAGE).await?
        }
    };
    let last = scanned.last().map(|(key, _)| key.clone());
    let done = scanned.len() < SWEEP_PAGE;
    let mut changes = Vec::new();
    let mut records = Vec::new();
    for unlisted in diff::sweep(scanned, &listing.listed, listing.bounds) {
        let (key, stored) = match unlisted {
            Unlisted::Forget(key) => {
                listing.counts.forgotten += 1;
                records.push((key, None));
                continue;
            }
            Unlisted::Removed(key, stored) => (key, stored),
        };
        let (change, record) = removed(lister, listing, key.clone(), stored, ctx).await?;
        if let Some(change) = change {
            match change.change.is_null() {
                true => listing.counts.removed += 1,
                false => listing.counts.updated += 1,
            }
            changes.push(change);
        }
        records.push((key, record));
    }
    if done {
        let ended = marker(listing.completed_before + 1, listing.started.timestamp());
        records.push((MARKER_KEY.to_owned(), Some(ended)));
    }
    let containers = commit(ctx, scope, changes, records).await?;
    listing.swept_to = last.or(listing.swept_to.take());
    if done {
        log_end(ctx, lister.scope(), listing);
    }
    let position = format!("listing {} sweep", listing.completed_before + 1);
    Ok(ListingStep {
        containers,
        returned: 0,
        done,
        position,
    })
}

/// What became of a live record the listing did not list while its date is inside the
/// window. A baseline notifies nothing: the record is forgotten, as the receiver never heard
/// of it.
async fn removed<L: Lister>(
    lister: &L,
    listing: &Listing,
    key: String,
    stored: Recorded,
    ctx: &Ctx<'_>,
) -> Result<(Option<RecordChange>, Option<Recorded>), PollError> {
    if listing.phase == Phase::Baseline {
        return Ok((None, None));
    }
    let confirmed: Confirmed = lister.confirm(ctx.client, &key).await?;
    let events = lister.events();
    Ok(diff::removal(
        key,
        stored,
        confirmed,
        listing.bounds,
        events,
    ))
}

/// Commits `changes` and `records` of `scope` in one transaction; nothing when both are
/// empty.
async fn commit(
    ctx: &Ctx<'_>,
    scope: &str,
    changes: Vec<RecordChange>,
    records: Vec<(String, Option<Recorded>)>,
) -> Result<Vec<Container>, PollError> {
    if changes.is_empty() && records.is_empty() {
        return Ok(Vec::new());
    }
    let id = &ctx.config.id;
    let initial = ctx.config.source.initial_cursor();
    let expected = ctx.store.connection_state(id, initial).await?;
    let commit = RecordCommit {
        scope: scope.to_owned(),
        changes,
        records,
        cursor: None,
    };
    let now: DateTime<Utc> = ctx.client.clock().now();
    Ok(ctx.store.commit_records(id, &expected, commit, now).await?)
}

/// The listing's closing line: counts and timing, never a record.
fn log_end(ctx: &Ctx<'_>, scope: &str, listing: &Listing) {
    let c = listing.counts;
    let elapsed = (ctx.client.clock().now() - listing.started).num_milliseconds();
    // A scope is empty or a FHIR resource type: never a record's detail.
    let scope = match scope {
        "" => String::new(),
        type_name => format!(" {type_name}"),
    };
    log::info!(
        "conn={}{scope} listing {} done: {} listed in {} pages, {} created, {} updated, \
         {} removed, {} forgotten, {elapsed} ms",
        ctx.config.id,
        listing.completed_before + 1,
        c.listed,
        listing.pages,
        c.created,
        c.updated,
        c.removed,
        c.forgotten,
    );
}

#[cfg(test)]
mod reader_tests;
#[cfg(test)]
mod tests;
