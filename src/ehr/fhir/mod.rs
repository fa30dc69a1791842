//! The FHIR source: reading a FHIR R4 server without gaps: per resource type, a
//! `_lastUpdated` search paged by keyset up to the server's clock minus a lag, and optionally
//! its `_history` for deletions. Each read answers a [`FhirPage`] (the versions found and the
//! cursor after them); the pipeline sorts the versions against those seen before
//! ([`Versions::take`]) and commits the page with its cursor in one transaction.
//!
//! One poll reads one page of one resource type's history or search ([`FhirPoller::next_read`],
//! [`FhirPoller::read`]); once the page is durable ([`FhirPoller::committed`]) the poller
//! moves on (deletions, search, next type) and reports `more` until it went round every type,
//! so the connection's poll loop (shared with the changes feed) paces it.
//! A type's deletions read that cannot be done does not hold up its search (see the
//! `deletions` module).

mod baseline;
pub(crate) mod bundle;
mod deletions;
pub mod enrich;
mod history;
pub mod metadata;
mod page;
pub mod probe;
mod search;
mod take;
pub mod window;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::client::EhrResponse;
use super::{EhrClient, EhrError};
use crate::config::{ConnectionConfig, FhirMode, FhirResource, FhirSource};
use crate::ehr::snapshot::ListingState;
use crate::model::{FhirCursor, Track};

pub use page::{FhirPage, FhirRead, NextRead, StoredCursors};
pub use take::{Taken, Versions};

/// The longest chain of `next` links one read follows.
const MAX_LINKED_PAGES: usize = 10_000;

/// The server's clock as Courier estimates it between answers, from their `Date` headers.
#[derive(Debug, Default)]
struct Clock {
    /// Server time minus local time at the last answer with a `Date`.
    skew: Cell<Option<chrono::Duration>>,
}

impl Clock {
    /// The upper bound to ask for at `now` (Courier's time): the server's estimated time
    /// minus `lag`.
    fn upper(&self, lag: Duration, now: DateTime<Utc>) -> DateTime<Utc> {
        let lag = chrono::Duration::from_std(lag).unwrap_or_default();
        now + self.skew.get().unwrap_or_default() - lag
    }

    /// Learns from an answer's `Date`, received at `now`, and returns the bound that answer
    /// allows: its `Date` minus `lag` (a `Date` is whole seconds, so this errs early, never
    /// late).
    fn observe(
        &self,
        (date, now): (Option<DateTime<Utc>>, DateTime<Utc>),
        lag: Duration,
        path: &str,
    ) -> Result<DateTime<Utc>, EhrError> {
        let date = date.ok_or_else(|| EhrError::Shape {
            path: path.to_owned(),
            reason: "no valid Date header, which bounds a FHIR search".to_owned(),
        })?;
        self.skew.set(Some(date - now));
        Ok(date - chrono::Duration::from_std(lag).unwrap_or_default())
    }
}

/// What a page's work needs.
struct Ctx<'a> {
    client: &'a EhrClient,
    config: &'a ConnectionConfig,
    clock: &'a Clock,
    /// The connection's FHIR settings.
    fhir: &'a FhirSource,
    page_size: usize,
}

impl Ctx<'_> {
    /// GETs a server's `next` link, counting it in `pages`. A link elsewhere than under
    /// `base_url` is refused (the connection's credentials are for its own server only), and
    /// so is a chain of links longer than [`MAX_LINKED_PAGES`] (a server that never ends).
    async fn follow(
        &self,
        url: &str,
        pages: &mut usize,
    ) -> Result<(String, EhrResponse), EhrError> {
        let path = link_path(self.config, url)?;
        *pages += 1;
        if *pages > MAX_LINKED_PAGES {
            return Err(EhrError::Shape {
                path,
                reason: format!("more than {MAX_LINKED_PAGES} linked pages in one read"),
            });
        }
        let response = self.client.get_json(&path, &[]).await?;
        Ok((path, response))
    }

    /// The stored cursor of a type's track, or `initial_since` for a new one.
    fn cursor(&self, stored: Option<FhirCursor>) -> FhirCursor {
        stored.unwrap_or_else(|| FhirCursor {
            since: self.fhir.initial_since.clone(),
            past: false,
        })
    }
}

/// The path under `base_url` of a server's `next` link. A link elsewhere is refused: the
/// connection's credentials are for its own server only.
pub(crate) fn link_path(config: &ConnectionConfig, url: &str) -> Result<String, EhrError> {
    let base = config.base_url.as_str().trim_end_matches('/');
    match url.strip_prefix(base) {
        // HAPI pages with `{base}?_getpages=…`, others with `{base}/{type}?…`.
        Some(rest) if rest.starts_with(['/', '?']) => Ok(rest.to_owned()),
        _ => Err(EhrError::Shape {
            path: "a next link".to_owned(),
            reason: "the server's next link is not under base_url".to_owned(),
        }),
    }
}

/// The reads of one round, in order: per resource type (by index), its deletions first (when
/// asked for), then its search. Deletions go first so that a resource deleted and written
/// again between two rounds is notified in that order: deleted, then created.
fn round(resources: &[FhirResource]) -> Vec<(usize, Track)> {
    resources
        .iter()
        .enumerate()
        .flat_map(|(i, r)| {
            let deletes = r.deletes.then_some((i, Track::Deletes));
            deletes.into_iter().chain([(i, Track::Search)])
        })
        .collect()
}

/// Where a round goes after its read at `at` (of `len`): the next read, and whether it is due
/// at once. A read with more pages waiting is read again at once, even when it is the only
/// read of the round; otherwise the round moves on, and ends (the next read is due at the next
/// interval) when it wraps.
fn after_read(at: usize, len: usize, more: bool) -> (usize, bool) {
    if more {
        return (at, true);
    }
    let next = (at + 1) % len;
    (next, next != 0)
}

/// A FHIR connection's polling state between pages; lives as long as the connection's
/// generation (what must survive restarts is in the store).
#[derive(Debug)]
pub struct FhirPoller {
    /// The connection's FHIR settings, as configured when the generation started.
    source: FhirSource,
    clock: Clock,
    /// The next read: an index into [`round`].
    next: Cell<usize>,
    /// Per type with `deletes = true`: whether the server supports type-level history,
    /// once `/metadata` said so.
    history: RefCell<HashMap<String, bool>>,
    /// What keeps a type's deletions from being read, while it lasts.
    warnings: deletions::TypeWarnings,
    /// The listing in progress of each `mode = "snapshot"` type, by type name.
    listings: BTreeMap<String, ListingState>,
}

impl FhirPoller {
    /// A poller of `source` at the start of a round.
    pub fn new(source: FhirSource) -> Self {
        let listings = source
            .resources
            .iter()
            .filter(|r| matches!(r.mode, FhirMode::Snapshot(_)))
            .map(|r| (r.type_name.clone(), ListingState::default()))
            .collect();
        Self {
            source,
            clock: Clock::default(),
            next: Cell::new(0),
            history: RefCell::new(HashMap::new()),
            warnings: deletions::TypeWarnings::default(),
            listings,
        }
    }

    /// The window search `next` is, when its type has `mode = "snapshot"`: its lister on
    /// `config`'s server and its listing in progress. `None` for a `_lastUpdated` type.
    pub fn window<'a>(
        &'a self,
        config: &'a ConnectionConfig,
        next: &NextRead,
    ) -> Option<(window::WindowLister<'a>, &'a ListingState)> {
        let resources = &self.source.resources;
        let resource = &resources[round(resources)[next.at].0];
        let FhirMode::Snapshot(search) = &resource.mode else {
            return None;
        };
        let state = self.listings.get(&resource.type_name)?;
        let page_size = self.source.page_size;
        let lister = window::WindowLister::new(config, resource, search, page_size);
        Some((lister, state))
    }

    /// Moves the round on after a page of `next`'s window search was committed (`done`: its
    /// listing ended), and answers whether another read is due at once: the listing's next
    /// page, or the round's next type.
    pub fn listed(&self, next: &NextRead, done: bool) -> bool {
        let len = round(&self.source.resources).len();
        let (at, due) = after_read(next.at, len, !done);
        self.next.set(at);
        due
    }

    /// The read the next poll makes: the pipeline looks up its type's stored cursors.
    pub fn next_read(&self) -> NextRead {
        let resources = &self.source.resources;
        let round = round(resources);
        let at = self.next.get() % round.len();
        let (index, track) = round[at];
        NextRead {
            type_name: resources[index].type_name.clone(),
            track,
            at,
        }
    }

    /// Reads the page `next` planned, from the `stored` cursors of its type: its deletions
    /// (when there are any to read this round; otherwise its search, next in the round), or
    /// its search.
    pub async fn read(
        &self,
        client: &EhrClient,
        config: &ConnectionConfig,
        next: NextRead,
        stored: StoredCursors,
    ) -> Result<FhirPage, EhrError> {
        let ctx = Ctx {
            client,
            config,
            clock: &self.clock,
            fhir: &self.source,
            page_size: self.source.page_size,
        };
        let resources = &self.source.resources;
        let resource = &resources[round(resources)[next.at].0];
        let is_deletes = next.track == Track::Deletes;
        let track_cursor = if is_deletes {
            &stored.deletes
        } else {
            &stored.search
        };
        let baseline = matches!(resource.mode, FhirMode::LastUpdated { baseline: true });
        if baseline && track_cursor.is_none() {
            return baseline::page(&ctx, resource, next.track, next.at).await;
        }
        let deletions = match is_deletes {
            true => {
                let cursor = ctx.cursor(stored.deletes);
                self.deletions(&ctx, resource, cursor).await?
            }
            false => None,
        };
        let mut page = match deletions {
            Some(page) => page,
            None => search::search_page(&ctx, resource, ctx.cursor(stored.search)).await?,
        };
        // Without deletions to read this round, its search was next in the round.
        page.read.at = next.at + usize::from(is_deletes && page.read.track == Track::Search);
        Ok(page)
    }

    /// Moves the round on once `read`'s page is durable (a page that was not is read again),
    /// and answers whether another read is due at once: a type with more, or reads not done
    /// yet in this round. A deletions read that was made clears its type's warning.
    pub fn committed(&self, read: &FhirRead) -> bool {
        if read.track == Track::Deletes {
            self.warnings.clear(&read.type_name);
        }
        let len = round(&self.source.resources).len();
        let (next, due) = after_read(read.at, len, read.more);
        self.next.set(next);
        due
    }

    /// The lasting conditions of the connection's types (what keeps their deletions from
    /// being read), for status: shown after every poll, failed or not, each list replacing
    /// the last, so a generation started by a reload also clears what no longer holds.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = self.warnings.list();
        for (type_name, listing) in &self.listings {
            let listed = listing.warnings().into_iter();
            warnings.extend(listed.map(|w| format!("{type_name}: {w}")));
        }
        warnings
    }
}

/// Entry points for the fuzz targets in `fuzz/`, which cannot reach the private Bundle
/// reader; not part of Courier's API.
#[doc(hidden)]
pub mod fuzzing {
    pub use super::bundle::{deletion, found, parse, reference_id, BundleKind, Deletion, Found};
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ehr::fixtures::fhir_source;

    /// A read of `type_name`'s `track` at `at` in its round, with `more` waiting.
    fn read_at(type_name: &str, track: Track, at: usize, more: bool) -> FhirRead {
        let cursor = FhirCursor {
            since: "2026-11-26T04:14:11Z".into(),
            past: false,
        };
        let read = FhirRead::new(type_name, track, (cursor.clone(), cursor));
        FhirRead { at, more, ..read }
    }

    /// A page that was not made durable is read again: the round moves on, and a type's
    /// deletions warning clears, only once the pipeline says the page was committed.
    #[test]
    fn the_round_moves_on_and_a_deletions_warning_clears_only_once_committed() {
        let poller = FhirPoller::new(fhir_source(&[("Appointment", true), ("Patient", false)]));
        let next = |p: &FhirPoller| {
            let read = p.next_read();
            (read.type_name, read.track, read.at)
        };
        let first = ("Appointment".to_owned(), Track::Deletes, 0);
        assert_eq!(next(&poller), first);
        assert_eq!(next(&poller), first, "nothing committed: the same read");
        poller.warnings.set("Appointment", "no history".into());
        let search = read_at("Appointment", Track::Search, 1, false);
        assert!(poller.committed(&search));
        assert_eq!(poller.warnings(), ["no history"], "a search clears nothing");
        assert_eq!(next(&poller), ("Patient".to_owned(), Track::Search, 2));
        let deletes = read_at("Appointment", Track::Deletes, 0, false);
        poller.committed(&deletes);
        assert!(poller.warnings().is_empty());
    }

    /// Found by the FHIR throughput benchmark: with one resource type and no deletions, a
    /// full page said "nothing more" (the round's next read was index 0 again), so a backlog
    /// drained one page per interval (~1,000/s with `_count` 1000 and a 1 s interval).
    #[test]
    fn a_read_with_more_pages_is_due_at_once_even_alone_in_its_round() {
        assert_eq!(after_read(0, 1, true), (0, true));
        assert_eq!(after_read(0, 1, false), (0, false));
        assert_eq!(after_read(0, 3, true), (0, true));
        assert_eq!(after_read(0, 3, false), (1, true));
        assert_eq!(after_read(2, 3, true), (2, true));
        assert_eq!(after_read(2, 3, false), (0, false));
    }
}
