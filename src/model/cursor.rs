//! Cursor values and their order: a feed position is a sequence number or an RFC 3339 time,
//! and the cursor must never move backwards, so comparing them right matters.

use std::cmp::Ordering;
use std::fmt;

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

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

#[cfg(test)]
mod tests {
    use super::*;

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
