//! Where a connection stands in its feed, and how a page moves it: the rules that make a
//! cursor-based feed lose nothing and repeat nothing, whatever the feed's quirks.
//!
//! Feeds differ in ways Courier cannot see: `since` may be inclusive or exclusive, coarser
//! than the positions (whole seconds against milliseconds), and several records may share
//! one position (a timestamp) across a page edge. One rule set covers them all:
//! - after a *full* page the cursor moves only to the largest position *below* the page's
//!   last one, so the rest of the records at that last position are read again, not skipped;
//! - every item taken at or after the cursor is remembered (by key and version), so reading
//!   it again drops it;
//! - an item before the cursor was taken earlier (or re-sent by a coarse `since`) and is
//!   dropped;
//! - the cursor never moves backwards.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{ChangeItem, CursorValue};

/// The position to read from and what was already taken from there on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CursorState {
    /// The position sent as `since`.
    pub value: CursorValue,
    /// Identities (`key` + version) of the items taken at or after `value`, with their
    /// positions; at most about a page, since the cursor moves past them.
    pub taken: BTreeMap<String, CursorValue>,
}

/// A page split into what is new and what was dropped.
#[derive(Debug, Default, PartialEq)]
pub struct Sorted {
    /// Items not taken before, in feed order.
    pub fresh: Vec<ChangeItem>,
    /// Items before the cursor: taken earlier, re-sent because the feed's `since` is coarser
    /// than its positions (or, on a misbehaving feed, inserted behind the cursor).
    pub behind: usize,
}

impl CursorState {
    /// A connection that has taken nothing yet.
    pub fn initial(value: &str) -> Self {
        Self {
            value: CursorValue::from(value),
            taken: BTreeMap::new(),
        }
    }

    /// Splits a page into the items not taken before (repeats within the page count once)
    /// and the ones behind the cursor.
    pub fn sort(&self, page: Vec<ChangeItem>) -> Sorted {
        let mut sorted = Sorted::default();
        let mut seen = BTreeSet::new();
        for item in page {
            if item.cursor.compare(&self.value) == Ordering::Less {
                sorted.behind += 1;
                continue;
            }
            let identity = item.identity();
            if !self.taken.contains_key(&identity) && seen.insert(identity) {
                sorted.fresh.push(item);
            }
        }
        sorted
    }

    /// The state after taking every item of `page` (of which `full` says whether the feed
    /// filled it, so more may wait at its last position).
    pub fn advanced_by(&self, page: &[ChangeItem], full: bool) -> Self {
        let value = next_position(&self.value, page, full);
        let kept = |position: &CursorValue| position.compare(&value) != Ordering::Less;
        let mut taken: BTreeMap<String, CursorValue> = self
            .taken
            .iter()
            .filter(|(_, position)| kept(position))
            .map(|(identity, position)| (identity.clone(), position.clone()))
            .collect();
        for item in page.iter().filter(|item| kept(&item.cursor)) {
            taken.insert(item.identity(), item.cursor.clone());
        }
        Self { value, taken }
    }
}

impl CursorState {
    /// The state after a poll that read everything up to `upper` (the EHR's clock minus a
    /// lag): the cursor moves to `upper`, never backwards, and every item of the response is
    /// remembered, because the next window overlaps this one by the lag and returns them
    /// again.
    pub fn after_window(&self, page: &[ChangeItem], upper: CursorValue) -> Self {
        let value = latest(&self.value, &upper).clone();
        let taken = page
            .iter()
            .map(|item| (item.identity(), value.clone()))
            .collect();
        Self { value, taken }
    }
}

/// After a full page: the largest position below the page's last one (so records sharing
/// the last position are read again, not skipped), never behind `current`. After a page
/// that was not full: the page's last position. Never backwards.
fn next_position(current: &CursorValue, page: &[ChangeItem], full: bool) -> CursorValue {
    let positions = || page.iter().map(|item| &item.cursor);
    let last = positions().fold(current, latest);
    if !full {
        return last.clone();
    }
    positions()
        .filter(|position| position.compare(last) == Ordering::Less)
        .fold(current, latest)
        .clone()
}

fn latest<'a>(a: &'a CursorValue, b: &'a CursorValue) -> &'a CursorValue {
    if b.compare(a) == Ordering::Greater {
        b
    } else {
        a
    }
}

#[cfg(test)]
mod tests;
