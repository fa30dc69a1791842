//! The position rules on the pages of issue 12: mixed kinds, a change of kind, the first
//! page after an initial cursor, and times beyond Courier's clock.

use super::*;
use crate::model::change_at as item;

fn clock() -> Clock {
    Clock {
        now: "2026-12-06T10:00:00Z".parse().unwrap(),
        skew: chrono::Duration::seconds(300),
    }
}

fn check(cursor: &str, at_initial: bool, page: &[ChangeItem]) -> Result<(), PositionError> {
    check_page(&CursorValue::from(cursor), at_initial, page, &clock())
}

const TIME: &str = "2026-12-01T00:00:00Z";

#[test]
fn a_page_mixing_numbers_and_a_time_is_refused_naming_the_item_and_both_kinds() {
    let err = check("11", false, &[item("e", "12"), item("f", TIME)]).unwrap_err();
    assert_eq!(err.kind(), "cursor_kind");
    assert_eq!(
        err.to_string(),
        "item 1 (key f) is at 2026-12-01T00:00:00Z, a time, where item 0 is at a number: a \
         feed's positions must all be of one kind"
    );
    let err = check("0", true, &[item("a", TIME), item("b", "5")]).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("item 1 (key b) is at 5, a number, where item 0 is at a time"),
        "{err}"
    );
}

#[test]
fn a_page_of_another_kind_than_a_cursor_that_moved_is_refused() {
    let err = check(TIME, false, &[item("g", "13"), item("h", "14")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "item 0 (key g) is at 13, a number, but the cursor 2026-12-01T00:00:00Z is a time: a \
         connection's positions must keep one kind"
    );
    let err = check("11", false, &[item("g", TIME)]).unwrap_err();
    assert_eq!(err.kind(), "cursor_kind");
    assert_eq!(
        check("11", false, &[item("g", "13"), item("h", "14")]),
        Ok(())
    );
}

#[test]
fn the_first_page_sets_the_kind_when_its_positions_come_after_the_initial_cursor() {
    // The default `0` before a feed of times or of opaque tokens.
    assert_eq!(check("0", true, &[item("a", TIME)]), Ok(()));
    assert_eq!(check("0", true, &[item("a", "c-17")]), Ok(()));
    // A date written without a time (text) before a feed of times.
    assert_eq!(check("2026-11-01", true, &[item("a", TIME)]), Ok(()));
    // The same pages once the cursor moved are refused.
    assert!(check("0", false, &[item("a", TIME)]).is_err());
}

#[test]
fn an_initial_cursor_that_would_put_the_feed_behind_it_is_refused_with_a_hint() {
    let err = check(TIME, true, &[item("a", "5")]).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("(set initial_cursor to a position of the feed's kind)"),
        "{err}"
    );
}

#[test]
fn a_time_beyond_the_clock_plus_the_skew_is_refused_and_one_within_it_is_not() {
    let within = "2026-12-06T10:05:00Z";
    assert_eq!(check("0", true, &[item("a", within)]), Ok(()));
    let err = check(
        "0",
        true,
        &[item("a", within), item("b", "2099-01-01T00:00:00Z")],
    )
    .unwrap_err();
    assert_eq!(err.kind(), "clock_skew");
    assert!(
        err.to_string().starts_with(
            "item 1 (key b) at 2099-01-01T00:00:00Z is 2274357600 s ahead of Courier's clock, \
             more than max_clock_skew_secs (300 s)"
        ),
        "{err}"
    );
}
