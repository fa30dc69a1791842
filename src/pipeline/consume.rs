//! One poll of a consume-once feed made durable. The EHR marks what a GET returns as
//! processed, so every page is committed (flushed) before the next GET; the connection's
//! cursor is the time of its last commit, which is where a recovery re-reads from (see
//! [`crate::ehr::consume`]).
//!
//! Every committed page, read from the feed or re-read, writes a dedupe entry per change
//! (scope `"consumed"`, keyed by a hash of key and version, dated by the commit) in the same
//! transaction as its containers, so a re-read drops exactly what is stored. Entries older
//! than `cursor − 2 × margin` can no longer be re-read and are forgotten a few at a time, in
//! the commits of later pages.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};

use super::{PageResult, PollError};
use crate::config::ConnectionConfig;
use crate::ehr::consume::{parse_items, ConsumeOnceReader, Consumed, Read, Reread, Window};
use crate::ehr::EhrClient;
use crate::model::{Container, CursorState, CursorValue, RecordChange, RecordCommit, Recorded};
use crate::store::{ConnectionState, Store, StoreError};

/// The record scope of the dedupe entries.
pub const SCOPE: &str = "consumed";
/// Dedupe entries looked at per poll by the rolling sweep: a page's worth, so forgetting
/// keeps pace with a feed that fills every page, at a cost bounded per poll.
const SWEEP_PER_POLL: usize = 256;
/// The margin dedupe entries are kept by when no re-read window is configured (they still
/// drop a change the feed hands out twice).
const MARGIN_WITHOUT_RECOVERY: Duration = Duration::from_secs(300);

/// Reads and commits one step of `reader`: the anchor of a new connection, a window of a
/// recovery, or a page of the feed. Any failure sets the reader recovering.
pub async fn poll_consume(
    reader: &ConsumeOnceReader,
    client: &EhrClient,
    config: &ConnectionConfig,
    store: &Store,
    page_size: Option<usize>,
) -> Result<PageResult, PollError> {
    let polled = step(reader, client, config, store, page_size).await;
    if polled.is_err() {
        reader.failed();
    }
    polled
}

async fn step(
    reader: &ConsumeOnceReader,
    client: &EhrClient,
    config: &ConnectionConfig,
    store: &Store,
    page_size: Option<usize>,
) -> Result<PageResult, PollError> {
    let state = store
        .connection_state(&config.id, config.source.initial_cursor())
        .await?;
    let last_commit = state.cursor.value.instant().map(|t| t.with_timezone(&Utc));
    if last_commit.is_some() && reader.is_recovering() && reader.source().recovery.is_none() {
        log::warn!(
            "conn={} no recovery window configured: changes a failed or interrupted read \
             marked processed cannot be read again",
            config.id
        );
    }
    let poll = Poll {
        reader,
        client,
        config,
        store,
        state: &state,
    };
    match reader.next_read(last_commit, client.clock().now()) {
        Read::Anchor => poll.anchor().await,
        Read::Recover(window) => poll.recover(window).await,
        Read::Feed => poll.feed(page_size, last_commit).await,
    }
}

/// What one poll works with.
struct Poll<'a> {
    reader: &'a ConsumeOnceReader,
    client: &'a EhrClient,
    config: &'a ConnectionConfig,
    store: &'a Store,
    /// The stored state the poll started from (a commit expects it).
    state: &'a ConnectionState,
}

impl Poll<'_> {
    /// Commits an empty page whose cursor is now, before the connection's first GET.
    async fn anchor(&self) -> Result<PageResult, PollError> {
        let now = self.client.clock().now();
        self.commit(Vec::new(), Vec::new(), Some(now)).await?;
        self.reader.anchored();
        log::info!("conn={} consume-once feed anchored", self.config.id);
        Ok(result(Vec::new(), 0, None, cursor_at(now).value, true).then_more())
    }

    /// Re-reads a window of processed changes and commits what is not stored yet; the
    /// cursor moves with the recovery's last window only, so a crash mid-recovery re-reads
    /// from where it began.
    async fn recover(&self, window: Window) -> Result<PageResult, PollError> {
        let source = self.reader.source();
        let recovery = source.recovery.as_ref().expect("recovering needs a window");
        let mut query = window.query(recovery);
        if let (Some(param), Some(size)) = (&source.page_size_param, source.page_size) {
            query.push((param.clone(), size.to_string()));
        }
        let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (&**k, &**v)).collect();
        let response = self.client.get_json(&source.changes_path, &query).await?;
        let items = parse_items(source, &source.changes_path, &response.body)?;
        let returned = items.len();
        let full = source.page_size_param.is_some()
            && source.page_size.is_some_and(|size| returned >= size);
        let last = match self.reader.reread(returned, full)? {
            Reread::Split => {
                log::debug!("conn={} re-read came back full: split", self.config.id);
                let cursor = self.state.cursor.value.clone();
                return Ok(result(Vec::new(), returned, None, cursor, false).then_more());
            }
            Reread::Commit { last } => last,
        };
        let (fresh, dropped) = self.unstored(items).await?;
        let now = self.client.clock().now();
        let containers = self.commit(fresh, Vec::new(), last.then_some(now)).await?;
        log::debug!(
            "conn={} re-read {returned} changes processed from {} to {} (offset {}): {} not \
             stored before, {dropped} already stored",
            self.config.id,
            window.start.to_rfc3339_opts(SecondsFormat::Secs, true),
            window.end.to_rfc3339_opts(SecondsFormat::Secs, true),
            window.offset,
            containers.len(),
        );
        if let Some(done) = self.reader.window_committed(returned, containers.len()) {
            log::info!(
                "conn={} recovery done: {} re-reads returned {} changes, {} not stored before",
                self.config.id,
                done.reads,
                done.returned,
                done.fresh
            );
        }
        let cursor = match last {
            true => cursor_at(now).value,
            false => self.state.cursor.value.clone(),
        };
        Ok(result(containers, returned, None, cursor, last).then_more())
    }

    /// Reads a page of the feed and commits it, with the cursor at now. An empty page is
    /// committed only to forget old entries or to keep the cursor within the margin.
    async fn feed(
        &self,
        page_size: Option<usize>,
        last_commit: Option<DateTime<Utc>>,
    ) -> Result<PageResult, PollError> {
        let source = self.reader.source();
        let size = page_size.map(|n| n.to_string());
        let mut query = Vec::new();
        if let (Some(param), Some(size)) = (&source.page_size_param, &size) {
            query.push((param.as_str(), size.as_str()));
        }
        let response = self.client.get_json(&source.changes_path, &query).await?;
        let items = parse_items(source, &source.changes_path, &response.body)?;
        let returned = items.len();
        let (fresh, _) = self.unstored(items).await?;
        let now = self.client.clock().now();
        let keep: HashSet<String> = fresh.iter().map(Consumed::record_key).collect();
        let forget = self.expired(now, &keep).await?;
        let margin = chrono::Duration::from_std(margin(self.reader)).unwrap_or_default();
        let stale = last_commit.is_none_or(|at| now - at >= margin);
        if returned == 0 && forget.is_empty() && !stale {
            let cursor = self.state.cursor.value.clone();
            return Ok(result(Vec::new(), 0, page_size, cursor, false));
        }
        let containers = self.commit(fresh, forget, Some(now)).await?;
        Ok(result(
            containers,
            returned,
            page_size,
            cursor_at(now).value,
            true,
        ))
    }

    /// The changes of `items` with no dedupe entry (each once), and how many were dropped.
    async fn unstored(&self, items: Vec<Consumed>) -> Result<(Vec<Consumed>, usize), StoreError> {
        let total = items.len();
        let mut seen = HashSet::new();
        let items: Vec<Consumed> = items
            .into_iter()
            .filter(|item| seen.insert(item.record_key()))
            .collect();
        let keys: Vec<String> = items.iter().map(Consumed::record_key).collect();
        let stored = self.store.records(&self.config.id, SCOPE, &keys).await?;
        let fresh: Vec<Consumed> = items
            .into_iter()
            .zip(stored)
            .filter_map(|(item, stored)| stored.is_none().then_some(item))
            .collect();
        let dropped = total - fresh.len();
        Ok((fresh, dropped))
    }

    /// The next stretch of the rolling sweep: entries older than `now − 2 × margin`, but
    /// those in `keep` (written by the same commit).
    async fn expired(
        &self,
        now: DateTime<Utc>,
        keep: &HashSet<String>,
    ) -> Result<Vec<String>, StoreError> {
        let after = self.reader.sweep_after();
        let page = self
            .store
            .scan_records(&self.config.id, SCOPE, after.as_deref(), SWEEP_PER_POLL)
            .await?;
        let cutoff = now - chrono::Duration::from_std(margin(self.reader) * 2).unwrap_or_default();
        let next = (page.len() >= SWEEP_PER_POLL).then(|| page.last().map(|(k, _)| k.clone()));
        self.reader.swept_to(next.flatten());
        Ok(page
            .into_iter()
            .filter(|(key, entry)| {
                entry.date.is_some_and(|date| date < cutoff.timestamp()) && !keep.contains(key)
            })
            .map(|(key, _)| key)
            .collect())
    }

    /// Commits `fresh` (containers and dedupe entries), forgets `forget`, and moves the
    /// cursor to `cursor` when given, in one flushed transaction.
    async fn commit(
        &self,
        fresh: Vec<Consumed>,
        forget: Vec<String>,
        cursor: Option<DateTime<Utc>>,
    ) -> Result<Vec<Container>, StoreError> {
        let now = self.client.clock().now();
        let entry = Recorded {
            fingerprint: None,
            revision: 0,
            date: Some(now.timestamp()),
        };
        let mut records: Vec<(String, Option<Recorded>)> =
            forget.into_iter().map(|key| (key, None)).collect();
        records.extend(fresh.iter().map(|c| (c.record_key(), Some(entry.clone()))));
        let changes = fresh
            .into_iter()
            .map(|item| RecordChange {
                key: item.key,
                version: item.version,
                event_type: item.event_type,
                change: item.raw,
                changed_elements: None,
                fhir: None,
                backfill: false,
            })
            .collect();
        let commit = RecordCommit {
            scope: SCOPE.to_owned(),
            changes,
            records,
            cursor: cursor.map(cursor_at),
        };
        self.store
            .commit_records(&self.config.id, self.state, commit, now)
            .await
    }
}

/// How far before the last commit a re-read starts (and so how long entries matter).
fn margin(reader: &ConsumeOnceReader) -> Duration {
    reader
        .source()
        .recovery
        .as_ref()
        .map_or(MARGIN_WITHOUT_RECOVERY, |recovery| recovery.margin)
}

/// The cursor of a commit made at `at`: its time, RFC 3339 in milliseconds.
fn cursor_at(at: DateTime<Utc>) -> CursorState {
    CursorState::initial(&at.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// A poll's answer; the feed's next poll follows at once after a full page.
fn result(
    containers: Vec<Container>,
    returned: usize,
    requested: Option<usize>,
    cursor: CursorValue,
    moved: bool,
) -> PageResult {
    PageResult {
        created: containers.len(),
        containers,
        returned,
        requested,
        cursor,
        cursor_moved: moved,
        behind: 0,
        more: false,
    }
}

/// A consume-once poll asking for the next step at once.
trait ThenMore {
    /// The next step follows at once: after an anchor, and after every window of a recovery
    /// (the next window, or the feed once the recovery ended).
    fn then_more(self) -> Self;
}

impl ThenMore for PageResult {
    fn then_more(self) -> Self {
        PageResult { more: true, ..self }
    }
}

#[cfg(test)]
mod tests;
