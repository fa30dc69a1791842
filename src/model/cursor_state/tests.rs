//! The cursor rules against simulated feeds of every flavour: each test pages through a feed
//! with `CursorState` exactly as a connection does and checks what was taken.

use super::*;
use crate::model::change_at as item;

/// A feed: items in position order, with an inclusive or exclusive `since`.
struct Feed {
    items: Vec<ChangeItem>,
    inclusive: bool,
}

impl Feed {
    fn page(&self, since: &CursorValue, size: usize) -> Vec<ChangeItem> {
        self.items
            .iter()
            .filter(|i| match i.cursor.compare(since) {
                Ordering::Greater => true,
                Ordering::Equal => self.inclusive,
                Ordering::Less => false,
            })
            .take(size)
            .cloned()
            .collect()
    }
}

/// Polls `feed` like a connection: pages of `size`, doubling the size while stuck.
fn drain(feed: &Feed, size: usize) -> Vec<String> {
    let mut state = CursorState::initial("0");
    let mut taken = Vec::new();
    let mut current = size;
    for _ in 0..1000 {
        let page = feed.page(&state.value, current);
        let full = page.len() >= current;
        let sorted = state.sort(page.clone());
        let next = state.advanced_by(&page, full);
        let stuck = full && sorted.fresh.is_empty() && next.value == state.value;
        taken.extend(sorted.fresh.iter().map(|i| i.key.clone()));
        if !full {
            return taken;
        }
        current = if stuck { current * 2 } else { size };
        state = next;
    }
    panic!("the feed was not drained");
}

fn feed(positions: &[&str], inclusive: bool) -> Feed {
    let items = positions
        .iter()
        .enumerate()
        .map(|(n, p)| item(&format!("k{n}"), p))
        .collect();
    Feed { items, inclusive }
}

fn all_keys(n: usize) -> Vec<String> {
    (0..n).map(|n| format!("k{n}")).collect()
}

#[test]
fn unique_positions_are_taken_once_with_an_exclusive_since() {
    let f = feed(&["1", "2", "3", "4", "5", "6", "7"], false);
    assert_eq!(drain(&f, 3), all_keys(7));
}

#[test]
fn unique_positions_are_taken_once_with_an_inclusive_since() {
    let f = feed(&["1", "2", "3", "4", "5", "6", "7"], true);
    assert_eq!(drain(&f, 3), all_keys(7));
}

#[test]
fn records_sharing_a_position_across_a_page_edge_are_not_lost_with_an_exclusive_since() {
    // k1 and k2 share position 2 across the edge of the first page.
    let f = feed(&["1", "2", "2", "3"], false);
    assert_eq!(drain(&f, 2), all_keys(4));
}

#[test]
fn more_records_at_one_position_than_a_page_holds_are_all_taken() {
    for inclusive in [true, false] {
        let f = feed(&["1", "5", "5", "5", "5", "5", "5", "5", "9"], inclusive);
        assert_eq!(drain(&f, 3), all_keys(9), "inclusive={inclusive}");
    }
}

#[test]
fn timestamps_sharing_an_instant_are_taken_once() {
    let t = "2026-11-26T10:00:00Z";
    let f = feed(
        &["2026-11-26T09:00:00Z", t, t, t, t, "2026-11-26T10:00:01Z"],
        true,
    );
    assert_eq!(drain(&f, 2), all_keys(6));
}

#[test]
fn items_behind_the_cursor_are_dropped_and_counted() {
    let state = CursorState::initial("0").advanced_by(&[item("a", "5"), item("b", "7")], false);
    assert_eq!(state.value.as_str(), "7");
    // A feed whose `since` is coarser re-sends a and b; a change behind the cursor is dropped.
    let sorted = state.sort(vec![item("a", "5"), item("b", "7"), item("c", "8")]);
    assert_eq!(sorted.fresh, vec![item("c", "8")]);
    assert_eq!(sorted.behind, 1);
}

#[test]
fn the_cursor_never_moves_backwards() {
    let state = CursorState::initial("10");
    assert_eq!(
        state
            .advanced_by(&[item("a", "7"), item("b", "9")], false)
            .value
            .as_str(),
        "10"
    );
    assert_eq!(
        state
            .advanced_by(&[item("a", "12"), item("b", "14")], true)
            .value
            .as_str(),
        "12"
    );
}

/// Found by the `cursor_order` fuzz target: with `9` < `10` < `1a` < `9` (mixed pairs
/// compared as text), keeping "the larger" position went round the cycle to behind `9`.
#[test]
fn the_cursor_never_moves_backwards_through_positions_of_mixed_kinds() {
    let state = CursorState::initial("9");
    let page = [item("a", "10"), item("b", "1a")];
    let next = state.advanced_by(&page, false);
    assert_ne!(next.value.compare(&state.value), Ordering::Less);
    assert_eq!(next.value.as_str(), "1a");
    assert!(next.sort(page.to_vec()).fresh.is_empty());
}

#[test]
fn a_new_version_of_a_taken_record_is_new() {
    let state = CursorState::initial("0").advanced_by(&[item("a", "5")], false);
    let mut again = item("a", "5");
    again.version = "2".into();
    assert_eq!(state.sort(vec![again.clone()]).fresh, vec![again]);
}

#[test]
fn what_is_remembered_stays_about_a_page() {
    let mut state = CursorState::initial("0");
    for n in 0..100u32 {
        let page: Vec<_> = (0..3)
            .map(|k| item(&format!("k{n}-{k}"), &(n * 3 + k).to_string()))
            .collect();
        state = state.advanced_by(&page, true);
    }
    assert!(
        state.taken.len() <= 3,
        "{} identities remembered",
        state.taken.len()
    );
}

#[test]
fn a_clock_window_moves_to_its_end_and_remembers_the_whole_response() {
    let state = CursorState::initial("2026-11-26T10:00:00Z");
    let since = state.value.clone();
    let first = state.after_window(
        &[item("a", since.as_str()), item("b", since.as_str())],
        "2026-11-26T10:00:05Z".into(),
    );
    assert_eq!(first.value.as_str(), "2026-11-26T10:00:05Z");
    // The next window overlaps the last by the lag: a and b come again, c is new.
    let at = first.value.as_str();
    let page = vec![item("a", at), item("b", at), item("c", at)];
    assert_eq!(first.sort(page.clone()).fresh, vec![item("c", at)]);
    // A clock that went backwards does not move the cursor back.
    let second = first.after_window(&page, "2026-11-26T10:00:01Z".into());
    assert_eq!(second.value.as_str(), "2026-11-26T10:00:05Z");
    assert_eq!(second.taken.len(), 3);
}
