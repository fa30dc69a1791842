//! Which positions a page may carry before the cursor follows them: one kind per connection,
//! and no time beyond Courier's own clock plus the allowed skew. A page that breaks either
//! rule is refused whole, so the cursor never jumps past changes it has not read.
//!
//! Why: positions of different kinds compare by kind alone (see [`CursorValue::compare`]),
//! so one time among sequence numbers outranks every later number, and a cursor that took it
//! would drop every later change as "behind". A time from a clock that ran ahead (a bogus
//! `Date`, a mis-stamped item) is just as final: nothing is ever after it.
//!
//! The kind a connection uses is set by its first page: while the stored cursor is still the
//! configured `initial_cursor` (nothing read yet), the page's positions may be of another
//! kind than that value (`0`, or a date written without a time, before a feed of times), as
//! long as they come after it in the cursor order, so that none is dropped as behind it. An
//! initial value that would put the feed's positions behind it (a time before a feed of
//! numbers) is refused the same way, since it would drop them all.

use chrono::{DateTime, Utc};

use super::cursor::CursorKind;
use super::{ChangeItem, CursorValue};

/// Why a page's positions cannot be followed; the page is refused and the cursor stays.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PositionError {
    /// The page mixes kinds of positions.
    #[error(
        "item {at} (key {key}) is at {position}, {kind}, where item 0 is at {first}: a feed's \
         positions must all be of one kind"
    )]
    MixedKinds {
        /// Index of the first item of another kind than item 0.
        at: usize,
        /// Its key.
        key: String,
        /// Its position.
        position: String,
        /// Its position's kind.
        kind: CursorKind,
        /// The kind of item 0's position.
        first: CursorKind,
    },
    /// The page's positions are of another kind than the stored cursor.
    #[error(
        "item {at} (key {key}) is at {position}, {kind}, but the cursor {cursor} is \
         {cursor_kind}: a connection's positions must keep one kind{hint}"
    )]
    KindChanged {
        /// Index of the first item (all are of one kind).
        at: usize,
        /// Its key.
        key: String,
        /// Its position.
        position: String,
        /// The page's kind.
        kind: CursorKind,
        /// The stored cursor.
        cursor: String,
        /// The stored cursor's kind.
        cursor_kind: CursorKind,
        /// What to change, when the cursor is still the configured initial one.
        hint: &'static str,
    },
    /// A time beyond Courier's clock plus `max_clock_skew_secs`.
    #[error(
        "{what} is {ahead_secs} s ahead of Courier's clock, more than max_clock_skew_secs \
         ({allowed_secs} s): a cursor never moves there"
    )]
    AheadOfClock {
        /// What carried the time: an item and its position, or the `Date` header.
        what: String,
        /// How far ahead of Courier's clock it is, in whole seconds.
        ahead_secs: i64,
        /// The allowed skew, in whole seconds.
        allowed_secs: i64,
    },
}

impl PositionError {
    /// A short, stable label for status and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            PositionError::MixedKinds { .. } | PositionError::KindChanged { .. } => "cursor_kind",
            PositionError::AheadOfClock { .. } => "clock_skew",
        }
    }
}

/// Courier's clock and the skew allowed to the EHR's: no time position may pass `now + skew`.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// Courier's time at the poll.
    pub now: DateTime<Utc>,
    /// `max_clock_skew_secs`.
    pub skew: chrono::Duration,
}

impl Clock {
    /// Refuses `instant` beyond `now + skew`; `what` names where it came from.
    pub fn check(
        &self,
        instant: DateTime<Utc>,
        what: impl FnOnce() -> String,
    ) -> Result<(), PositionError> {
        if instant <= self.now + self.skew {
            return Ok(());
        }
        Err(PositionError::AheadOfClock {
            what: what(),
            ahead_secs: (instant - self.now).num_seconds(),
            allowed_secs: self.skew.num_seconds(),
        })
    }
}

/// Checks a page's positions against the stored `cursor` (`at_initial`: it is still the
/// configured initial cursor) and the clock; see the module doc for the rules.
pub fn check_page(
    cursor: &CursorValue,
    at_initial: bool,
    page: &[ChangeItem],
    clock: &Clock,
) -> Result<(), PositionError> {
    check_kinds(cursor, at_initial, page)?;
    for (at, item) in page.iter().enumerate() {
        if let Some(instant) = item.cursor.instant() {
            clock.check(instant.with_timezone(&Utc), || {
                format!("item {at} (key {}) at {}", item.key, item.cursor)
            })?;
        }
    }
    Ok(())
}

fn check_kinds(
    cursor: &CursorValue,
    at_initial: bool,
    page: &[ChangeItem],
) -> Result<(), PositionError> {
    let Some(first) = page.first() else {
        return Ok(());
    };
    let kind = first.cursor.kind();
    if let Some((at, item)) = page
        .iter()
        .enumerate()
        .find(|(_, item)| item.cursor.kind() != kind)
    {
        return Err(PositionError::MixedKinds {
            at,
            key: item.key.clone(),
            position: item.cursor.to_string(),
            kind: item.cursor.kind(),
            first: kind,
        });
    }
    let cursor_kind = cursor.kind();
    // Across kinds the order is by kind, so the first item stands for the whole page.
    let after = first.cursor.compare(cursor) == std::cmp::Ordering::Greater;
    if kind == cursor_kind || (at_initial && after) {
        return Ok(());
    }
    Err(PositionError::KindChanged {
        at: 0,
        key: first.key.clone(),
        position: first.cursor.to_string(),
        kind,
        cursor: cursor.to_string(),
        cursor_kind,
        hint: if at_initial {
            " (set initial_cursor to a position of the feed's kind)"
        } else {
            ""
        },
    })
}

#[cfg(test)]
mod tests;
