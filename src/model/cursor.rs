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
    ///
    /// The order is total (a total preorder: `1` and `1.0` are one position). Each value is
    /// first classed on its own, as a number, a time or text, and values of different classes
    /// compare by class (numbers, then text, then times), never as text: comparing a mixed
    /// pair as text would make cycles (`9` < `10` < `1a` < `9`), and a cursor that keeps "the
    /// larger" position around a cycle ends behind where it started.
    pub fn compare(&self, other: &Self) -> Ordering {
        match (self.position(), other.position()) {
            (Position::Number(a), Position::Number(b)) => a.compare(b),
            (Position::Instant(a), Position::Instant(b)) => a.cmp(&b),
            (Position::Text, Position::Text) => self.0.cmp(&other.0),
            (a, b) => a.rank().cmp(&b.rank()),
        }
    }

    /// Whether `self` and `other` name the same position.
    pub fn same_as(&self, other: &Self) -> bool {
        self.compare(other) == Ordering::Equal
    }

    /// The kind of position this is. A connection's positions must all have one kind: across
    /// kinds the order is by kind alone, so one time among numbers would outrank every later
    /// number.
    pub fn kind(&self) -> CursorKind {
        match self.position() {
            Position::Number(_) => CursorKind::Number,
            Position::Instant(_) => CursorKind::Time,
            Position::Text => CursorKind::Text,
        }
    }

    /// The instant, when the value is an RFC 3339 time, so it can be held against a clock.
    pub fn instant(&self) -> Option<DateTime<FixedOffset>> {
        match self.position() {
            Position::Instant(instant) => Some(instant),
            _ => None,
        }
    }

    fn position(&self) -> Position {
        if let Ok(integer) = self.0.parse::<i128>() {
            return Position::Number(Number::Integer(integer));
        }
        // `inf` and `nan` parse as floats but are no position: they stay text.
        match self.0.parse::<f64>() {
            Ok(float) if float.is_finite() => return Position::Number(Number::Float(float)),
            _ => {}
        }
        match DateTime::parse_from_rfc3339(&self.0) {
            Ok(instant) => Position::Instant(instant),
            Err(_) => Position::Text,
        }
    }
}

/// What kind of position a cursor value is, for messages and for the one-kind rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CursorKind {
    /// An integer or a finite decimal number (a sequence number).
    Number,
    /// An RFC 3339 time.
    Time,
    /// Anything else (an opaque token, a date without a time), compared as text.
    Text,
}

impl fmt::Display for CursorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CursorKind::Number => "a number",
            CursorKind::Time => "a time",
            CursorKind::Text => "text",
        })
    }
}

/// What a cursor value is, decided from the value alone.
enum Position {
    Number(Number),
    Instant(DateTime<FixedOffset>),
    Text,
}

impl Position {
    /// The order of the classes: numbers first, so the default initial cursor `0` is before
    /// any feed's positions, and times last, so an initial cursor written as a date
    /// (`2026-01-01`, text) is before the times a feed sends.
    fn rank(&self) -> u8 {
        match self {
            Position::Number(_) => 0,
            Position::Text => 1,
            Position::Instant(_) => 2,
        }
    }
}

/// A number as written: integers exactly (sequence numbers beyond 2^53 stay distinct), others
/// as finite floats.
#[derive(Clone, Copy)]
enum Number {
    Integer(i128),
    Float(f64),
}

impl Number {
    /// Compares the values exactly, an integer against a float too: converting the integer
    /// to a float would round it and make `a = b`, `b = c` but `a < c` possible.
    fn compare(self, other: Number) -> Ordering {
        match (self, other) {
            (Number::Integer(a), Number::Integer(b)) => a.cmp(&b),
            (Number::Float(a), Number::Float(b)) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
            (Number::Integer(a), Number::Float(b)) => integer_against_float(a, b),
            (Number::Float(a), Number::Integer(b)) => integer_against_float(b, a).reverse(),
        }
    }
}

/// Exact order of an integer and a finite float.
fn integer_against_float(integer: i128, float: f64) -> Ordering {
    // 2^127, exactly representable: every i128 is below it and at least its negation.
    const BOUND: f64 = 170_141_183_460_469_231_731_687_303_715_884_105_728.0;
    if float >= BOUND {
        return Ordering::Less;
    }
    if float < -BOUND {
        return Ordering::Greater;
    }
    let whole = float.trunc();
    // Exact: `whole` is an integer within the i128 range.
    match integer.cmp(&(whole as i128)) {
        Ordering::Equal => 0.0_f64
            .partial_cmp(&(float - whole))
            .unwrap_or(Ordering::Equal),
        unequal => unequal,
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

    /// Found by the `cursor_order` fuzz target: mixed pairs compared as text made cycles.
    #[test]
    fn positions_of_different_kinds_order_by_kind_without_cycles() {
        assert_eq!(cmp("9", "10"), Ordering::Less);
        assert_eq!(cmp("10", "1a"), Ordering::Less);
        assert_eq!(cmp("9", "1a"), Ordering::Less);
        let (a, b, c) = (
            "2026-01-01T10:00:00+02:00",
            "2026-01-01T08:30:00Z",
            "2026-01-01T09",
        );
        assert_eq!(cmp(a, b), Ordering::Less);
        assert_eq!(cmp(c, b), Ordering::Less);
        assert_eq!(cmp(c, a), Ordering::Less);
        assert_eq!(cmp("0", "2026-01-01T00:00:00Z"), Ordering::Less);
        assert_eq!(cmp("2026-01-01", "2026-01-01T00:00:00Z"), Ordering::Less);
        assert_eq!(cmp("-0", "00"), Ordering::Equal);
        assert_eq!(cmp("-0", "0%00"), Ordering::Less);
        assert_eq!(cmp("0%00", "00"), Ordering::Greater);
    }

    /// Found by the `cursor_order` fuzz target: an integer beyond 2^53 rounded to a float
    /// made `a = b = c` with `a > c`.
    #[test]
    fn integers_and_floats_compare_exactly() {
        let (a, b, c) = ("9007199254740993", "9007199254740992.5", "9007199254740992");
        assert_eq!(cmp(a, c), Ordering::Greater);
        assert_eq!(cmp(a, b), Ordering::Greater);
        assert_eq!(cmp(b, c), Ordering::Equal);
        assert_eq!(cmp("1", "1.0"), Ordering::Equal);
        assert_eq!(cmp("-0.0", "0.0"), Ordering::Equal);
        assert_eq!(cmp("-1.5", "-1"), Ordering::Less);
        assert_eq!(cmp("1e39", &i128::MAX.to_string()), Ordering::Greater);
        assert_eq!(cmp("inf", "nan"), Ordering::Less, "not numbers: text");
        assert_eq!(cmp("9", "inf"), Ordering::Less);
    }

    #[test]
    fn each_value_has_one_kind() {
        let kind = |value: &str| CursorValue::from(value).kind();
        assert_eq!(kind("12"), CursorKind::Number);
        assert_eq!(kind("1.5"), CursorKind::Number);
        assert_eq!(kind("2026-12-01T00:00:00Z"), CursorKind::Time);
        assert_eq!(kind("2026-12-01"), CursorKind::Text);
        assert_eq!(kind("inf"), CursorKind::Text);
    }

    #[test]
    fn anything_else_compares_as_text() {
        assert_eq!(cmp("abc", "abd"), Ordering::Less);
    }
}
