//! Polling a FHIR R4 server without gaps: per resource type, a `_lastUpdated` search paged
//! by keyset up to the server's clock minus a lag, and optionally its `_history` for
//! deletions; each page committed with its cursor, the versions seen and their containers.
//!
//! One call of [`FhirPoller::poll`] reads one page of one resource type's history or search;
//! the poller then moves on (deletions, search, next type) and reports `more` until it went
//! round every type, so the connection's poll loop (shared with the changes feed) paces it.
//! A type's deletions read that cannot be done does not hold up its search (see
//! [`deletions`]).

pub(crate) mod bundle;
mod deletions;
pub mod enrich;
mod history;
pub mod metadata;
pub mod probe;
mod search;
mod take;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Utc};

use self::take::Taken;
use super::client::EhrResponse;
use super::poll::{PageResult, PollError};
use super::{EhrClient, EhrError};
use crate::config::{ConnectionConfig, FhirResource, FhirSource};
use crate::model::{Container, CursorValue};
use crate::store::fhir::{FhirCommit, FhirCursor, Track};
use crate::store::{Store, StoreError};

/// The longest chain of `next` links one read follows.
const MAX_LINKED_PAGES: usize = 10_000;

/// What one page of one type and track brought.
#[derive(Debug, Default)]
struct Step {
    containers: Vec<Container>,
    /// Entries the server returned.
    returned: usize,
    /// More is waiting for this type and track.
    more: bool,
    /// The cursor after the page, for status.
    cursor: String,
    moved: bool,
}

/// The server's clock as Courier estimates it between answers, from their `Date` headers.
#[derive(Debug, Default)]
struct Clock {
    /// Server time minus local time at the last answer with a `Date`.
    skew: Cell<Option<chrono::Duration>>,
}

impl Clock {
    /// The upper bound to ask for: the server's estimated time minus `lag`.
    fn upper(&self, lag: Duration) -> DateTime<Utc> {
        let lag = chrono::Duration::from_std(lag).unwrap_or_default();
        Utc::now() + self.skew.get().unwrap_or_default() - lag
    }

    /// Learns from an answer's `Date` and returns the bound that answer allows: its `Date`
    /// minus `lag` (a `Date` is whole seconds, so this errs early, never late).
    fn observe(
        &self,
        date: Option<DateTime<Utc>>,
        lag: Duration,
        path: &str,
    ) -> Result<DateTime<Utc>, EhrError> {
        let date = date.ok_or_else(|| EhrError::Shape {
            path: path.to_owned(),
            reason: "no valid Date header, which bounds a FHIR search".to_owned(),
        })?;
        self.skew.set(Some(date - Utc::now()));
        Ok(date - chrono::Duration::from_std(lag).unwrap_or_default())
    }
}

/// What a page's work needs.
struct Ctx<'a> {
    client: &'a EhrClient,
    config: &'a ConnectionConfig,
    store: &'a Store,
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
        let base = self.config.base_url.as_str().trim_end_matches('/');
        let path = match url.strip_prefix(base) {
            // HAPI pages with `{base}?_getpages=…`, others with `{base}/{type}?…`.
            Some(rest) if rest.starts_with(['/', '?']) => rest.to_owned(),
            _ => {
                return Err(EhrError::Shape {
                    path: "a next link".to_owned(),
                    reason: "the server's next link is not under base_url".to_owned(),
                })
            }
        };
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
    async fn cursor(&self, type_name: &str, track: Track) -> Result<FhirCursor, StoreError> {
        let stored = self
            .store
            .fhir_cursor(&self.config.id, type_name, track)
            .await?;
        Ok(stored.unwrap_or_else(|| FhirCursor {
            since: self.fhir.initial_since.clone(),
            past: false,
        }))
    }

    /// Commits a page of `type_name` (its changes, the versions seen, and `next`, unless it is
    /// not ahead of `current`) in one transaction; writes nothing when the page changed
    /// nothing.
    async fn commit(
        &self,
        type_name: &str,
        track: Track,
        (current, next): (FhirCursor, FhirCursor),
        taken: Taken,
    ) -> Result<Step, PollError> {
        let cursor = if is_ahead(&next, &current) {
            next
        } else {
            current.clone()
        };
        let moved = cursor != current;
        let status = format!("{type_name}:{}", cursor.since);
        if taken.changes.is_empty() && taken.seen.is_empty() && !moved {
            return Ok(Step {
                cursor: status,
                ..Step::default()
            });
        }
        let commit = FhirCommit {
            type_name: type_name.to_owned(),
            track,
            cursor,
            changes: taken.changes,
            seen: taken.seen,
        };
        let id = &self.config.id;
        let state = self
            .store
            .connection_state(id, self.config.source.initial_cursor())
            .await?;
        let containers = self
            .store
            .commit_fhir(id, &state, commit, Utc::now())
            .await?;
        Ok(Step {
            containers,
            cursor: status,
            moved,
            ..Step::default()
        })
    }
}

/// Whether `next` is after `current`: a later instant, or the same one now read whole.
fn is_ahead(next: &FhirCursor, current: &FhirCursor) -> bool {
    let at = |c: &FhirCursor| DateTime::<FixedOffset>::parse_from_rfc3339(&c.since).ok();
    match (at(next), at(current)) {
        (Some(n), Some(c)) => n > c || (n == c && next.past && !current.past),
        _ => false,
    }
}

/// One read of a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Read {
    Search,
    Deletes,
}

/// The reads of one round, in order: per resource type (by index), its deletions first (when
/// asked for), then its search. Deletions go first so that a resource deleted and written
/// again between two rounds is notified in that order: deleted, then created.
fn round(resources: &[FhirResource]) -> Vec<(usize, Read)> {
    resources
        .iter()
        .enumerate()
        .flat_map(|(i, r)| {
            let deletes = r.deletes.then_some((i, Read::Deletes));
            deletes.into_iter().chain([(i, Read::Search)])
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
}

impl FhirPoller {
    /// A poller of `source` at the start of a round.
    pub fn new(source: FhirSource) -> Self {
        Self {
            source,
            clock: Clock::default(),
            next: Cell::new(0),
            history: RefCell::new(HashMap::new()),
            warnings: deletions::TypeWarnings::default(),
        }
    }

    /// Reads and commits one page; `more` in the result says whether another read is due at
    /// once (a type with more, or reads not done yet in this round). `warn` hears the lasting
    /// conditions of the connection's types at every poll (each call replacing the last, so
    /// a generation started by a reload also clears what no longer holds).
    pub async fn poll(
        &self,
        client: &EhrClient,
        config: &ConnectionConfig,
        store: &Store,
        warn: &dyn Fn(&[String]),
    ) -> Result<PageResult, PollError> {
        let ctx = Ctx {
            client,
            config,
            store,
            clock: &self.clock,
            fhir: &self.source,
            page_size: self.source.page_size,
        };
        let resources = &ctx.fhir.resources;
        let round = round(resources);
        let mut at = self.next.get() % round.len();
        let resource = &resources[round[at].0];
        let is_deletes = round[at].1 == Read::Deletes;
        let deletions = match is_deletes {
            true => self.deletions(&ctx, resource).await,
            false => Ok(None),
        };
        warn(&self.warnings.list());
        let deletions = deletions?;
        let step = match deletions {
            Some(step) => step,
            None => {
                // Without deletions to read this round, its search is next in the round.
                at += usize::from(is_deletes);
                search::search_page(&ctx, resource).await?
            }
        };
        let (next, due) = after_read(at, round.len(), step.more);
        self.next.set(next);
        Ok(PageResult {
            created: step.containers.len(),
            containers: step.containers,
            returned: step.returned,
            requested: None,
            cursor: CursorValue(step.cursor),
            cursor_moved: step.moved,
            // Versions at the inclusive cursor are read again by design: not a coarse `since`.
            behind: 0,
            more: due,
        })
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

    fn cursor(since: &str, past: bool) -> FhirCursor {
        FhirCursor {
            since: since.into(),
            past,
        }
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

    #[test]
    fn a_cursor_only_moves_forward() {
        let t1 = "2026-11-26T04:14:11.323Z";
        let t2 = "2026-11-26T04:14:11.324Z";
        assert!(is_ahead(&cursor(t2, false), &cursor(t1, true)));
        assert!(is_ahead(&cursor(t1, true), &cursor(t1, false)));
        assert!(!is_ahead(&cursor(t1, false), &cursor(t1, true)));
        assert!(!is_ahead(&cursor(t1, false), &cursor(t2, false)));
        assert!(!is_ahead(&cursor(t1, false), &cursor(t1, false)));
        assert!(!is_ahead(&cursor("1 Nov", false), &cursor(t1, false)));
    }
}
