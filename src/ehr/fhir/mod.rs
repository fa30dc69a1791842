//! Polling a FHIR R4 server without gaps: per resource type, a `_lastUpdated` search paged
//! by keyset up to the server's clock minus a lag, and optionally its `_history` for
//! deletions; each page committed with its cursor, the versions seen and their containers.
//!
//! One call of [`FhirPoller::poll`] reads one page of one resource type's search or history;
//! the poller then moves on (search, deletions, next type) and reports `more` until it went
//! round every type, so the connection's poll loop (shared with the changes feed) paces it.

mod bundle;
pub mod enrich;
mod history;
pub mod metadata;
pub mod probe;
mod search;
mod take;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::poll::{PageResult, PollError};
use super::{EhrClient, EhrError};
use crate::config::{ConnectionConfig, FhirConfig};
use crate::model::{Container, CursorValue};
use crate::store::fhir::FhirCommit;
use crate::store::Store;

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
    page_size: usize,
}

impl Ctx<'_> {
    fn fhir(&self) -> &FhirConfig {
        self.config
            .fhir
            .as_ref()
            .expect("a FHIR poller only runs for a source = \"fhir\" connection")
    }

    /// The path (under `base_url`) of a server link; a link elsewhere is refused, since the
    /// connection's credentials are for its own server only.
    fn link_path(&self, url: &str) -> Result<String, EhrError> {
        let base = self.config.base_url.as_str().trim_end_matches('/');
        match url.strip_prefix(base) {
            Some(rest) if rest.starts_with('/') => Ok(rest.to_owned()),
            _ => Err(EhrError::Shape {
                path: "a next link".to_owned(),
                reason: "the server's next link is not under base_url".to_owned(),
            }),
        }
    }

    /// Commits a page (changes, versions seen, cursor) in one transaction; writes nothing
    /// when the page changed nothing.
    async fn commit(&self, commit: FhirCommit, moved: bool) -> Result<Step, PollError> {
        let cursor = format!("{}:{}", commit.type_name, commit.cursor.since);
        if commit.changes.is_empty() && commit.seen.is_empty() && !moved {
            return Ok(Step {
                cursor,
                ..Step::default()
            });
        }
        let id = &self.config.id;
        let state = self
            .store
            .connection_state(id, &self.config.initial_cursor)?;
        let containers = self
            .store
            .commit_fhir(id, &state, commit, Utc::now())
            .await?;
        Ok(Step {
            containers,
            cursor,
            moved,
            ..Step::default()
        })
    }
}

/// Which read comes next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Read {
    Search,
    Deletes,
}

/// A FHIR connection's polling state between pages; lives as long as the connection's
/// generation (what must survive restarts is in the store).
#[derive(Debug)]
pub struct FhirPoller {
    clock: Clock,
    /// The resource type (index into `resources`) and read of the next page.
    next: Cell<(usize, Read)>,
    /// Per type with `deletes = true`: whether the server supports type-level history,
    /// once `/metadata` said so.
    history: RefCell<HashMap<String, bool>>,
}

impl Default for FhirPoller {
    fn default() -> Self {
        Self::new()
    }
}

impl FhirPoller {
    /// A poller starting with the first resource type's search.
    pub fn new() -> Self {
        Self {
            clock: Clock::default(),
            next: Cell::new((0, Read::Search)),
            history: RefCell::new(HashMap::new()),
        }
    }

    /// Reads and commits one page; `more` in the result says whether another read is due at
    /// once (a type with more, or types not read yet in this round).
    pub async fn poll(
        &self,
        client: &EhrClient,
        config: &ConnectionConfig,
        store: &Store,
        on_unsupported: &dyn Fn(&str),
    ) -> Result<PageResult, PollError> {
        let ctx = Ctx {
            client,
            config,
            store,
            clock: &self.clock,
            page_size: config.page_size.unwrap_or(100),
        };
        let resources = &ctx.fhir().resources;
        let (index, read) = self.next.get();
        let resource = &resources[index.min(resources.len() - 1)];
        let step = match read {
            Read::Search => search::search_page(&ctx, resource).await?,
            Read::Deletes => history::deletions(&ctx, resource).await?,
        };
        let next = if step.more {
            (index, read)
        } else if read == Read::Search
            && resource.deletes
            && self
                .supports_history(&ctx, &resource.type_name, on_unsupported)
                .await?
        {
            (index, Read::Deletes)
        } else {
            ((index + 1) % resources.len(), Read::Search)
        };
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
            more: next != (0, Read::Search),
        })
    }

    /// Asks `/metadata` once per type whether `{type}/_history` is supported.
    async fn supports_history(
        &self,
        ctx: &Ctx<'_>,
        type_name: &str,
        on_unsupported: &dyn Fn(&str),
    ) -> Result<bool, EhrError> {
        if let Some(known) = self.history.borrow().get(type_name) {
            return Ok(*known);
        }
        let statement = metadata::read(ctx.client).await?;
        let supported = metadata::supports_type_history(&statement, type_name);
        if !supported {
            on_unsupported(type_name);
        }
        self.history
            .borrow_mut()
            .insert(type_name.to_owned(), supported);
        Ok(supported)
    }
}
