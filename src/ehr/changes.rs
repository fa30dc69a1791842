//! The changes-feed source: one page read from the stored cursor, checked against the cursor
//! rules, with what is new after the cursor and where the cursor goes next. Making it durable
//! is the pipeline's ([`crate::pipeline`]).

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};

use super::feed::{ensure_ascending, page_query, parse_page};
use super::{EhrClient, EhrError};
use crate::config::{ChangesSource, CursorFrom};
use crate::model::positions::{check_page, Clock};
use crate::model::{ChangeItem, CursorState, CursorValue};

/// What one changes-feed page brought, before anything of it is durable: what the pipeline
/// commits (the new items and the cursor after them) and what it decides the next poll by.
#[derive(Debug)]
pub struct ChangesPage {
    /// The page's items after the cursor read from, in cursor order: each gets a container.
    pub fresh: Vec<ChangeItem>,
    /// The cursor after the page.
    pub cursor: CursorState,
    /// Whether the page changes anything (new items, or a cursor other than the one read
    /// from): a page that does not is not written.
    pub changed: bool,
    /// Whether the cursor's position moved.
    pub moved: bool,
    /// Items the feed returned, new or not.
    pub returned: usize,
    /// Items dropped because they were before the cursor (re-sent by a coarse `since`).
    pub behind: usize,
}

/// Reads one page of `feed` after `from` (the stored cursor), asking for `page_size` items:
/// the items it brought after `from` and the cursor after them, once the page passed the
/// cursor rules.
pub async fn read_page(
    client: &EhrClient,
    feed: &ChangesSource,
    from: &CursorState,
    page_size: Option<usize>,
) -> Result<ChangesPage, EhrError> {
    let size_text = page_size.map(|n| n.to_string());
    let query = page_query(feed, &from.value, size_text.as_deref());
    let response = client.get_json(&feed.changes_path, &query).await?;
    let page = parse_page(feed, &feed.changes_path, &response.body, &from.value)?;
    let returned = page.len();
    let full = page_size.is_some_and(|size| returned >= size);
    let cursor = next_cursor(
        feed,
        from,
        &page,
        full,
        (response.date, client.clock().now()),
    )?;
    let sorted = from.sort(page);
    Ok(ChangesPage {
        changed: !sorted.fresh.is_empty() || cursor != *from,
        moved: !cursor.value.same_as(&from.value),
        fresh: sorted.fresh,
        cursor,
        returned,
        behind: sorted.behind,
    })
}

/// The cursor after `page`, once the page passed the checks that keep a cursor from jumping
/// past changes it has not read: one kind of position, no time beyond Courier's clock plus
/// `max_clock_skew_secs` (see [`crate::model::positions`]), and, for a full page, ascending
/// positions. `(date, now)`: the answer's `Date` header and Courier's time.
fn next_cursor(
    config: &ChangesSource,
    cursor: &CursorState,
    page: &[ChangeItem],
    full: bool,
    (date, now): (Option<DateTime<Utc>>, DateTime<Utc>),
) -> Result<CursorState, EhrError> {
    let path = &config.changes_path;
    let refused = |source| EhrError::Position {
        path: path.clone(),
        source: Box::new(source),
    };
    let clock = Clock {
        now,
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
