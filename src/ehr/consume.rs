//! The consume-once source: a feed whose every GET marks what it returns as processed, so the
//! EHR, not Courier, keeps the cursor. This module decides what to read next and reads it;
//! making a page durable is the pipeline's ([`crate::pipeline`]).
//!
//! # Why a reader state
//! A GET that fails after the EHR answered (a timeout, a socket that hung or broke, a crash
//! before the commit) may have marked changes processed that Courier never stored. With a
//! re-read window configured (`recovery`), the reader then *recovers*: it re-reads what the
//! EHR processed between the last commit (minus a margin for clock drift) and now, drops
//! what is already stored (by key and version) and commits the rest, before reading the feed
//! again. It starts every generation recovering (the last one may have died between a GET
//! and its commit) and goes back to recovering after any failed GET or commit.
//!
//! # Windows
//! Window bounds are whole seconds (the EHR's time formats rarely carry more): the start is
//! rounded down, the end is the second after now, so both an inclusive and an exclusive end
//! cover every change processed until now. A re-read that comes back full (`page_size`
//! changes) may have left some out: the window is split in halves that share their middle
//! second, read first half first; the overlap is read twice and dropped the second time.
//! A window of one second cannot be split (one feed read hands out a whole page at one
//! processing time): it is paged by `recovery.offset_param`, each page committed, until a
//! page comes back short; without an offset parameter, such a window is an error.

use std::cell::RefCell;

use chrono::{DateTime, Duration as TimeDelta, DurationRound, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::feed::event_type_of;
use super::EhrError;
use crate::config::{ConsumeOnceSource, Recovery};
use crate::fhir::events::Fingerprint;
use crate::template::scalar_text;

/// A stretch of the EHR's processing time to re-read, bounds in whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Processed at or after this.
    pub start: DateTime<Utc>,
    /// Processed before (or at) this.
    pub end: DateTime<Utc>,
    /// Changes of the window already read and committed, when it is paged.
    pub offset: usize,
}

impl Window {
    /// The window from `last_commit − margin` to the second after `now`.
    pub fn since_commit(last_commit: DateTime<Utc>, margin: TimeDelta, now: DateTime<Utc>) -> Self {
        let second = TimeDelta::seconds(1);
        let floor = |t: DateTime<Utc>| t.duration_trunc(second).unwrap_or(t);
        let start = floor(last_commit - margin);
        Self {
            start,
            end: (floor(now) + second).max(start + second),
            offset: 0,
        }
    }

    /// Its two halves, sharing their middle second; `None` when it is one second or less.
    pub fn halves(&self) -> Option<(Window, Window)> {
        let seconds = (self.end - self.start).num_seconds();
        if seconds < 2 {
            return None;
        }
        let middle = self.start + TimeDelta::seconds(seconds / 2);
        Some((
            Window {
                start: self.start,
                end: middle,
                offset: 0,
            },
            Window {
                start: middle,
                end: self.end,
                offset: 0,
            },
        ))
    }

    /// The re-read's query: the window's bounds in `recovery.time_format` (UTC), its offset
    /// when paged, then the fixed parameters.
    pub fn query(&self, recovery: &Recovery) -> Vec<(String, String)> {
        let format = |t: DateTime<Utc>| t.format(&recovery.time_format).to_string();
        let mut query = vec![
            (recovery.start_param.clone(), format(self.start)),
            (recovery.end_param.clone(), format(self.end)),
        ];
        if let (Some(param), 1..) = (&recovery.offset_param, self.offset) {
            query.push((param.clone(), self.offset.to_string()));
        }
        query.extend(recovery.params.iter().cloned());
        query
    }
}

/// What the next poll of a consume-once feed does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// The connection never committed: commit an empty page whose cursor is now before the
    /// first GET, so a crash after that GET is inside a re-read window.
    Anchor,
    /// Re-read this window of processed changes.
    Recover(Window),
    /// Read the feed: what the EHR has not handed out yet.
    Feed,
}

/// What a re-read window's answer means for the recovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reread {
    /// Commit its changes; `last` when it was the last window of the recovery (a paged
    /// window's full page is not).
    Commit {
        /// Whether the recovery ends with this window.
        last: bool,
    },
    /// It came back full: its halves are read instead, and its answer is dropped.
    Split,
}

/// Where the reader stands (see the module doc).
#[derive(Debug)]
struct ReaderState {
    /// A GET may have marked changes processed that were not stored.
    recovering: bool,
    /// The windows of the recovery under way still to read; the next one last.
    windows: Vec<Window>,
    /// How many changes the next window's read brought, when it is paged on.
    paged: Option<usize>,
    /// Where the rolling sweep of old dedupe entries continues (`None`: from the first).
    sweep_after: Option<String>,
    /// What the recovery under way found so far.
    tally: Recovered,
}

/// What one recovery found, over all its windows: for its one log line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Re-reads made (windows, halves and pages).
    pub reads: usize,
    /// Changes the re-reads returned.
    pub returned: usize,
    /// Changes that were not stored before: recovered.
    pub fresh: usize,
}

/// A consume-once connection's per-generation reader: its settings and its recovery state.
/// Used from one connection actor only, hence `RefCell`.
#[derive(Debug)]
pub struct ConsumeOnceReader {
    source: ConsumeOnceSource,
    state: RefCell<ReaderState>,
}

impl ConsumeOnceReader {
    /// A reader for a new generation: recovering, since the last one may have stopped
    /// between a GET and its commit.
    pub fn new(source: ConsumeOnceSource) -> Self {
        Self {
            source,
            state: RefCell::new(ReaderState {
                recovering: true,
                windows: Vec::new(),
                paged: None,
                sweep_after: None,
                tally: Recovered::default(),
            }),
        }
    }

    /// The feed's settings.
    pub fn source(&self) -> &ConsumeOnceSource {
        &self.source
    }

    /// Whether a GET may have marked changes processed that were not stored.
    pub fn is_recovering(&self) -> bool {
        self.state.borrow().recovering
    }

    /// What to do next, given the last commit's time (`None`: never committed) and now.
    /// Without a re-read window, a recovery has nothing to read and ends at once.
    pub fn next_read(&self, last_commit: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Read {
        let Some(last_commit) = last_commit else {
            return Read::Anchor;
        };
        let mut state = self.state.borrow_mut();
        if !state.recovering {
            return Read::Feed;
        }
        let Some(recovery) = &self.source.recovery else {
            state.recovering = false;
            return Read::Feed;
        };
        if state.windows.is_empty() {
            let margin = TimeDelta::from_std(recovery.margin).unwrap_or_default();
            state
                .windows
                .push(Window::since_commit(last_commit, margin, now));
        }
        Read::Recover(*state.windows.last().expect("a window was just pushed"))
    }

    /// The anchor was committed: nothing was read before it, so nothing is to recover.
    pub fn anchored(&self) {
        let mut state = self.state.borrow_mut();
        state.recovering = false;
        state.windows.clear();
    }

    /// A re-read of the next window brought `returned` changes, which `full` says is as
    /// many as asked for: split it, page it, or commit it. An error when a full window of
    /// one second cannot be paged (no `offset_param`).
    pub fn reread(&self, returned: usize, full: bool) -> Result<Reread, EhrError> {
        let mut state = self.state.borrow_mut();
        let window = *state.windows.last().expect("reread follows next_read");
        state.paged = None;
        state.tally.reads += 1;
        if !full {
            let last = state.windows.len() == 1;
            return Ok(Reread::Commit { last });
        }
        if window.offset == 0 {
            if let Some((first, second)) = window.halves() {
                state.windows.pop();
                state.windows.extend([second, first]);
                return Ok(Reread::Split);
            }
        }
        let paging = self
            .source
            .recovery
            .as_ref()
            .and_then(|r| r.offset_param.as_ref());
        if paging.is_none() {
            return Err(EhrError::Shape {
                path: self.source.changes_path.clone(),
                reason: "a re-read of one second came back full: set recovery.offset_param \
                         (how the EHR pages), or raise page_size above the changes it \
                         processes in one second"
                    .to_owned(),
            });
        }
        state.paged = Some(returned);
        Ok(Reread::Commit { last: false })
    }

    /// The window just read is durable, with `returned` changes of which `fresh` were not
    /// stored before: the recovery moves on (to the window's next page when it is paged),
    /// and ends after the last window, answering what it found in all.
    pub fn window_committed(&self, returned: usize, fresh: usize) -> Option<Recovered> {
        let mut state = self.state.borrow_mut();
        state.tally.returned += returned;
        state.tally.fresh += fresh;
        let paged = state.paged.take();
        let window = state.windows.pop();
        if let (Some(returned), Some(window)) = (paged, window) {
            let offset = window.offset + returned;
            state.windows.push(Window { offset, ..window });
        }
        if !state.windows.is_empty() {
            return None;
        }
        state.recovering = false;
        Some(std::mem::take(&mut state.tally))
    }

    /// A GET or a commit failed: whatever the GET marked processed may be lost, so recover
    /// (from the stored cursor: the windows are computed again).
    pub fn failed(&self) {
        let mut state = self.state.borrow_mut();
        state.recovering = true;
        state.windows.clear();
        state.paged = None;
        state.tally = Recovered::default();
    }

    /// Where the sweep of old dedupe entries continues.
    pub fn sweep_after(&self) -> Option<String> {
        self.state.borrow().sweep_after.clone()
    }

    /// Where the next sweep continues (`None`: from the first entry again).
    pub fn swept_to(&self, after: Option<String>) {
        self.state.borrow_mut().sweep_after = after;
    }
}

/// One change as the feed handed it out.
#[derive(Debug, Clone, PartialEq)]
pub struct Consumed {
    /// The changed record's identifier.
    pub key: String,
    /// Which change of the record: `version_pointer`'s value, or a hash of the item.
    pub version: String,
    /// The item as returned.
    pub raw: Value,
    /// Its notifications' `type`: the source's `event_type`, filled from the item.
    pub event_type: String,
}

impl Consumed {
    /// The key of its dedupe entry: hex of the first 8 bytes of SHA-256 over
    /// `key NUL version`, so an entry holds no identifier and has a fixed size.
    pub fn record_key(&self) -> String {
        record_key(&self.key, &self.version)
    }
}

/// See [`Consumed::record_key`].
pub fn record_key(key: &str, version: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(key.as_bytes());
    hasher.update([0]);
    hasher.update(version.as_bytes());
    let digest = hasher.finalize();
    digest[..8]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The changes of a feed (or re-read) answer, in order. An item without a key, a version or
/// a value its `event_type` needs refuses the whole answer: what it marked processed stays
/// inside the re-read window, and the problem shows in status instead of being skipped.
pub fn parse_items(
    source: &ConsumeOnceSource,
    path: &str,
    body: &Value,
) -> Result<Vec<Consumed>, EhrError> {
    let shape = |reason: String| EhrError::Shape {
        path: path.to_owned(),
        reason,
    };
    let items = body
        .pointer(&source.items_pointer)
        .and_then(Value::as_array)
        .ok_or_else(|| {
            shape(format!(
                "no array at items_pointer {:?}",
                source.items_pointer
            ))
        })?;
    let field = |raw: &Value, pointer: &str, what: &str| {
        raw.pointer(pointer)
            .and_then(scalar_text)
            .ok_or_else(|| format!("no string or number at {what} {pointer:?}"))
    };
    let parse = |raw: &Value| -> Result<Consumed, String> {
        let key = field(raw, &source.key_pointer, "key_pointer")?;
        let version = match &source.version_pointer {
            Some(pointer) => field(raw, pointer, "version_pointer")?,
            None => format!("{:016x}", Fingerprint::of_record(raw).content_hash()),
        };
        let event_type = event_type_of(&source.event_type, &key, raw)?;
        Ok(Consumed {
            key,
            version,
            raw: raw.clone(),
            event_type,
        })
    };
    items
        .iter()
        .enumerate()
        .map(|(index, raw)| parse(raw).map_err(|reason| shape(format!("item {index}: {reason}"))))
        .collect()
}

#[cfg(test)]
pub(crate) mod tests;
