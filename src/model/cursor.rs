//! Cursor values and their order: a feed position is a sequence number or an RFC 3339 time,
//! and the cursor must never move backwards, so comparing them right matters.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

use super::ChangeItem;

/// A position in a changes feed, kept as the EHR wrote it so it is sent back unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CursorValue(pub String);

impl CursorValue {
    /// The value as sent in the `since` parameter.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Orders two positions: numerically when both are numbers, by instant when both are
    /// RFC 3339 times (whatever their offsets), else as text.
    pub fn compare(&self, other: &Self) -> Ordering {
        if let (Ok(a), Ok(b)) = (self.0.parse::<i128>(), other.0.parse::<i128>()) {
            return a.cmp(&b);
        }
        if let (Ok(a), Ok(b)) = (self.0.parse::<f64>(), other.0.parse::<f64>()) {
            return a.total_cmp(&b);
        }
        if let (Some(a), Some(b)) = (self.instant(), other.instant()) {
            return a.cmp(&b);
        }
        self.0.cmp(&other.0)
    }

    /// Whether `self` and `other` name the same position.
    pub fn same_as(&self, other: &Self) -> bool {
        self.compare(other) == Ordering::Equal
    }

    fn instant(&self) -> Option<DateTime<FixedOffset>> {
        DateTime::parse_from_rfc3339(&self.0).ok()
    }
}

impl fmt::Display for CursorValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for CursorValue {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

/// Where a connection stands in its feed: the position to re-read from, plus the identities
/// of the items already taken *at* that position.
///
/// Feeds are re-read inclusively from the cursor, because several records can share one
/// position (a timestamp) across a page edge. Remembering what was taken at the edge lets a
/// re-read drop exactly those, so nothing is skipped and nothing is taken twice, whether the
/// feed's `since` is inclusive or exclusive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CursorState {
    /// The position sent as `since`.
    pub value: CursorValue,
    /// Identities (`key` + version) of the items taken whose position equals `value`.
    pub edge: BTreeSet<String>,
}

impl CursorState {
    /// A connection that has taken nothing yet.
    pub fn initial(value: &str) -> Self {
        Self {
            value: CursorValue::from(value),
            edge: BTreeSet::new(),
        }
    }

    /// The items of a page that were not taken before: drops those at the edge and repeats
    /// within the page, keeps the feed's order.
    pub fn new_items(&self, page: Vec<ChangeItem>) -> Vec<ChangeItem> {
        let mut seen = BTreeSet::new();
        page.into_iter()
            .filter(|item| {
                let identity = item.identity();
                let at_edge = item.cursor.same_as(&self.value) && self.edge.contains(&identity);
                !at_edge && seen.insert(identity)
            })
            .collect()
    }

    /// The state after taking every item of `page`: the largest position seen (never
    /// backwards), and the identities at that position.
    pub fn advanced_by(&self, page: &[ChangeItem]) -> Self {
        let value = page
            .iter()
            .map(|item| &item.cursor)
            .fold(&self.value, |max, c| {
                if c.compare(max) == Ordering::Greater {
                    c
                } else {
                    max
                }
            })
            .clone();
        let mut edge = if value.same_as(&self.value) {
            self.edge.clone()
        } else {
            BTreeSet::new()
        };
        edge.extend(
            page.iter()
                .filter(|item| item.cursor.same_as(&value))
                .map(ChangeItem::identity),
        );
        Self { value, edge }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn item(key: &str, cursor: &str) -> ChangeItem {
        ChangeItem {
            key: key.into(),
            version: cursor.into(),
            cursor: CursorValue::from(cursor),
            raw: Value::Null,
        }
    }

    #[test]
    fn cursor_never_moves_backwards() {
        let state = CursorState::initial("10");
        let next = state.advanced_by(&[item("a", "7"), item("b", "9")]);
        assert_eq!(next.value.as_str(), "10");
    }

    #[test]
    fn reread_at_a_shared_timestamp_drops_only_what_was_taken() {
        let t = "2026-11-26T10:00:00Z";
        let state =
            CursorState::initial("2026-11-26T09:00:00Z").advanced_by(&[item("a", t), item("b", t)]);
        assert_eq!(state.value.as_str(), t);
        // The next page re-reads from `t` inclusively: a and b again, then c at the same instant.
        let fresh = state.new_items(vec![item("a", t), item("b", t), item("c", t)]);
        assert_eq!(fresh, vec![item("c", t)]);
        let state = state.advanced_by(&fresh);
        assert_eq!(
            state.edge.len(),
            3,
            "the edge keeps growing while the position stays"
        );
    }

    #[test]
    fn a_new_version_of_a_record_at_the_edge_is_not_dropped() {
        let state = CursorState::initial("0").advanced_by(&[item("a", "5")]);
        let mut again = item("a", "5");
        again.version = "other".into();
        assert_eq!(state.new_items(vec![again.clone()]), vec![again]);
    }

    #[test]
    fn repeats_within_one_page_are_taken_once() {
        let state = CursorState::initial("0");
        assert_eq!(
            state.new_items(vec![item("a", "1"), item("a", "1")]).len(),
            1
        );
    }

    fn cmp(a: &str, b: &str) -> Ordering {
        CursorValue::from(a).compare(&CursorValue::from(b))
    }

    #[test]
    fn numbers_compare_numerically_not_as_text() {
        assert_eq!(cmp("9", "10"), Ordering::Less);
        assert_eq!(cmp("10", "10"), Ordering::Equal);
        assert_eq!(cmp("1.5", "10"), Ordering::Less);
    }

    #[test]
    fn times_compare_by_instant_across_offsets_and_precision() {
        assert_eq!(
            cmp("2026-01-01T10:00:00+02:00", "2026-01-01T08:30:00Z"),
            Ordering::Less
        );
        assert_eq!(
            cmp("2026-01-01T08:00:00Z", "2026-01-01T08:00:00.000+00:00"),
            Ordering::Equal
        );
        assert_eq!(
            cmp("2026-01-01T08:00:00.5Z", "2026-01-01T08:00:00Z"),
            Ordering::Greater
        );
    }

    #[test]
    fn anything_else_compares_as_text() {
        assert_eq!(cmp("abc", "abd"), Ordering::Less);
    }
}
