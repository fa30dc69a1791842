//! One poll of a changes feed: read a page from the cursor, keep what is new, and make it
//! durable together with the cursor advance.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};

use super::feed::{ensure_ascending, page_query, parse_page};
use super::fhir::FhirPoller;
use super::{EhrClient, EhrError};
use crate::config::{ChangesSource, ConnectionConfig, CursorFrom, Source as SourceConfig};
use crate::model::positions::{check_page, Clock};
use crate::model::{ChangeItem, Container, CursorState, CursorValue};
use crate::store::{Store, StoreError};

/// What one page brought.
#[derive(Debug)]
pub struct PageResult {
    /// Containers created for the page's new items, durable and in sequence order.
    pub containers: Vec<Container>,
    /// How many containers the page created (kept when the caller takes `containers`).
    pub created: usize,
    /// Items the feed returned, new or not.
    pub returned: usize,
    /// The page size asked for, when the feed pages.
    pub requested: Option<usize>,
    /// The cursor after the page.
    pub cursor: CursorValue,
    /// Whether the cursor moved.
    pub cursor_moved: bool,
    /// Items dropped because they were before the cursor (re-sent by a coarse `since`).
    pub behind: usize,
    /// The source has more to read at once, whatever the page's size (a FHIR source going
    /// round its resource types).
    pub more: bool,
}

impl PageResult {
    /// A full page means more may be waiting: poll again at once.
    pub fn was_full(&self) -> bool {
        self.more || self.filled_page()
    }

    fn filled_page(&self) -> bool {
        self.requested.is_some_and(|size| self.returned >= size)
    }

    /// A full page that brought nothing new and did not move the cursor: every item shares
    /// the cursor's position, and only a larger page can get past it.
    pub fn is_stuck(&self) -> bool {
        self.filled_page() && self.created == 0 && !self.cursor_moved
    }

    /// Why a page is still stuck at the widest page allowed (`page_size`). Items before the
    /// cursor mean the page *starts* before it: the feed ignores `since_param` (or reads it
    /// coarser than its positions), which a crowded position only looks like.
    pub fn stuck_reason(&self, page_size: usize, since_param: &str) -> String {
        if self.behind == 0 {
            return format!(
                "{} items share cursor position {}; raise page_size above {page_size}",
                self.returned, self.cursor
            );
        }
        format!(
            "the feed's page starts before the cursor: {} of its {} items are before cursor \
             position {}, so the feed ignores {since_param:?} or reads it coarser than its \
             positions; make it honour {since_param:?}, or raise page_size above {page_size}",
            self.behind, self.returned, self.cursor
        )
    }
}

/// Why a poll failed; the cursor did not move.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    /// The EHR failed or answered something unusable.
    #[error(transparent)]
    Ehr(#[from] EhrError),
    /// The page could not be made durable.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl PollError {
    /// How long the EHR asked us to wait, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            PollError::Ehr(err) => err.retry_after(),
            PollError::Store(_) => None,
        }
    }

    /// Whether waiting alone will not help (see [`EhrError::needs_operator`]); a store that
    /// fails always needs one.
    pub fn needs_operator(&self) -> bool {
        match self {
            PollError::Ehr(err) => err.needs_operator(),
            PollError::Store(_) => true,
        }
    }

    /// A short, stable label for status and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            PollError::Ehr(err) => err.kind(),
            PollError::Store(_) => "store",
        }
    }
}

/// How a connection reads its changes: the one place where the source kinds differ, behind
/// one poll loop (the connection actor's) that treats every kind alike.
pub enum Source {
    /// A changes feed, with its settings: [`poll_page`].
    Changes(ChangesSource),
    /// A FHIR server: its per-generation poller state.
    Fhir(FhirPoller),
}

impl Source {
    /// The source a connection's configuration asks for.
    pub fn for_connection(config: &ConnectionConfig) -> Self {
        match &config.source {
            SourceConfig::Changes(feed) => Source::Changes(ChangesSource::clone(feed)),
            SourceConfig::Fhir(fhir) => Source::Fhir(FhirPoller::new(fhir.clone())),
        }
    }

    /// Reads and commits one page. `page_size` is the changes feed's (possibly widened)
    /// page size; `warn` hears the source's lasting conditions that do not stop polling
    /// (each call replacing the last).
    pub async fn poll_page(
        &self,
        client: &EhrClient,
        config: &ConnectionConfig,
        store: &Store,
        page_size: Option<usize>,
        warn: &dyn Fn(&[String]),
    ) -> Result<PageResult, PollError> {
        match self {
            Source::Changes(feed) => poll_page(client, config, feed, store, page_size).await,
            Source::Fhir(poller) => poller.poll(client, config, store, warn).await,
        }
    }
}

/// Reads one page of `feed` after the stored cursor (asking for `page_size` items) and
/// commits its new items and the new cursor in one transaction. Nothing is written when
/// nothing changed.
pub async fn poll_page(
    client: &EhrClient,
    config: &ConnectionConfig,
    feed: &ChangesSource,
    store: &Store,
    page_size: Option<usize>,
) -> Result<PageResult, PollError> {
    let state = store
        .connection_state(&config.id, &feed.initial_cursor)
        .await?;
    let size_text = page_size.map(|n| n.to_string());
    let query = page_query(feed, &state.cursor.value, size_text.as_deref());
    let response = client.get_json(&feed.changes_path, &query).await?;
    let page = parse_page(
        feed,
        &feed.changes_path,
        &response.body,
        &state.cursor.value,
    )?;
    let returned = page.len();
    let full = page_size.is_some_and(|size| returned >= size);
    let cursor = next_cursor(feed, &state.cursor, &page, full, response.date)?;
    let sorted = state.cursor.sort(page);
    let cursor_moved = !cursor.value.same_as(&state.cursor.value);
    let containers = if sorted.fresh.is_empty() && cursor == state.cursor {
        Vec::new()
    } else {
        let value = cursor.clone();
        store
            .commit_page(
                &config.id,
                &state,
                &sorted.fresh,
                value,
                &feed.event_type,
                Utc::now(),
            )
            .await?
    };
    Ok(PageResult {
        created: containers.len(),
        containers,
        returned,
        requested: page_size,
        cursor: cursor.value,
        cursor_moved,
        behind: sorted.behind,
        more: false,
    })
}

/// The cursor after `page`, once the page passed the checks that keep a cursor from jumping
/// past changes it has not read: one kind of position, no time beyond Courier's clock plus
/// `max_clock_skew_secs` (see [`crate::model::positions`]), and, for a full page, ascending
/// positions.
fn next_cursor(
    config: &ChangesSource,
    cursor: &CursorState,
    page: &[ChangeItem],
    full: bool,
    date: Option<DateTime<Utc>>,
) -> Result<CursorState, EhrError> {
    let path = &config.changes_path;
    let refused = |source| EhrError::Position {
        path: path.clone(),
        source: Box::new(source),
    };
    let clock = Clock {
        now: Utc::now(),
        skew: chrono::Duration::from_std(config.max_clock_skew).unwrap_or_default(),
    };
    // A cursor stored ahead of the clock (by an older version, or a future initial_cursor)
    // would silently skip everything until the clock caught up.
    if let Some(stored) = cursor.value.instant() {
        let what = || format!("the stored cursor {}", cursor.value);
        clock
            .check(stored.with_timezone(&Utc), what)
            .map_err(refused)?;
    }
    let at_initial = cursor.value.as_str() == config.initial_cursor;
    check_page(&cursor.value, at_initial, page, &clock).map_err(refused)?;
    if full {
        ensure_ascending(page, path)?;
    }
    Ok(match config.cursor_from {
        CursorFrom::Items => cursor.advanced_by(page, full),
        CursorFrom::DateHeader { lag } => {
            let date = date.ok_or_else(|| EhrError::Shape {
                path: path.to_owned(),
                reason: "no valid Date header, which cursor_from = \"date_header\" needs"
                    .to_owned(),
            })?;
            let what = || format!("the Date header {}", date.to_rfc2822());
            clock.check(date, what).map_err(refused)?;
            cursor.after_window(page, window_end(date, lag))
        }
    })
}

/// The end of the window a `date_header` poll has read completely: the EHR's clock at the
/// request, minus the lag left for changes committed late with an earlier time.
fn window_end(date: DateTime<Utc>, lag: Duration) -> CursorValue {
    let lag = chrono::Duration::from_std(lag).unwrap_or_default();
    CursorValue((date - lag).to_rfc3339_opts(SecondsFormat::Secs, true))
}
