//! Unit tests of the high-water marks: what counts as going backwards, and when the file is
//! written.

use super::*;
use crate::model::CursorState;

fn mark(next_sequence: u64, cursor: &str) -> Mark {
    Mark {
        next_sequence,
        cursor: CursorValue::from(cursor),
    }
}

fn marks(entries: &[(&str, Mark)]) -> BTreeMap<String, Mark> {
    entries
        .iter()
        .map(|(id, mark)| ((*id).to_owned(), mark.clone()))
        .collect()
}

fn state(next_sequence: u64, cursor: &str) -> ConnectionState {
    ConnectionState {
        cursor: CursorState::initial(cursor),
        next_sequence,
    }
}

fn on_disk(dir: &Path) -> BTreeMap<String, Mark> {
    read(&dir.join(MARKS_FILE)).expect("a marks file")
}

#[test]
fn a_lower_next_sequence_or_a_missing_connection_went_backwards() {
    let marked = marks(&[
        ("a", mark(3001, "3000")),
        ("b", mark(12, "55")),
        ("c", mark(7, "2026-01-01T10:00:00Z")),
    ]);
    let stored = marks(&[
        ("a", mark(1000, "999")),
        ("c", mark(6, "2026-01-01T09:00:00Z")),
    ]);
    let found = regressions(&marked, &stored);
    let text = found.to_string();
    assert_eq!(found.0.len(), 3, "{text}");
    assert!(
        text.contains("connection a: next sequence 3001 -> 1000, cursor 3000 -> 999"),
        "{text}"
    );
    assert!(
        text.contains("connection b is missing (it had next sequence 12, cursor 55)"),
        "{text}"
    );
    assert!(text.contains(
        "connection c: next sequence 7 -> 6, cursor 2026-01-01T10:00:00Z -> 2026-01-01T09:00:00Z"
    ));
}

#[test]
fn a_store_level_with_or_ahead_of_its_marks_did_not_go_backwards() {
    let marked = marks(&[("a", mark(10, "9")), ("b", mark(5, "4"))]);
    // The marks lag the store: a crash after a flush and before the marks were written.
    let stored = marks(&[
        ("a", mark(10, "9")),
        ("b", mark(9, "3")),
        ("new", mark(2, "1")),
    ]);
    assert_eq!(regressions(&marked, &stored), Regressions(Vec::new()));
    // Same next sequence, another cursor: pages without changes, nothing to lose or resend.
    let cursor_only = marks(&[("a", mark(10, "8")), ("b", mark(5, "opaque-token"))]);
    assert_eq!(regressions(&marked, &cursor_only), Regressions(Vec::new()));
}

#[test]
fn the_check_refuses_a_store_behind_its_marks_unless_accepted_and_then_rewrites_them() {
    let dir = tempfile::tempdir().unwrap();
    check(dir.path(), marks(&[("a", mark(10, "9"))]), Rollback::Refuse).unwrap();
    let older = marks(&[("a", mark(4, "3"))]);
    match check(dir.path(), older.clone(), Rollback::Refuse) {
        Err(StoreError::WentBackwards(WentBackwards { path, regressions })) => {
            assert_eq!(path, dir.path());
            assert_eq!(regressions.0[0].stored, Some(mark(4, "3")));
        }
        other => panic!("not refused: {:?}", other.err()),
    }
    assert_eq!(
        on_disk(dir.path())["a"],
        mark(10, "9"),
        "a refusal keeps them"
    );
    check(dir.path(), older.clone(), Rollback::Accept).unwrap();
    assert_eq!(
        on_disk(dir.path()),
        older,
        "accepting takes the store's state"
    );
    check(dir.path(), older, Rollback::Refuse).expect("accepted once, then normal");
}

#[test]
fn marks_move_only_with_a_successful_flush_of_what_was_committed_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut file = check(dir.path(), BTreeMap::new(), Rollback::Refuse).unwrap();
    let committed = file.committed();
    committed.record("a", &state(3, "2"));
    let staged = file.stage();
    // Committed while that flush ran: not covered by it.
    committed.record("a", &state(5, "4"));
    file.flushed(staged);
    file.finish();
    assert_eq!(on_disk(dir.path()), marks(&[("a", mark(3, "2"))]));
    // A failed flush merges nothing: its staged records are dropped.
    drop(file.stage());
    file.finish();
    assert_eq!(on_disk(dir.path()), marks(&[("a", mark(3, "2"))]));
    committed.record("a", &state(6, "5"));
    let staged = file.stage();
    file.flushed(staged);
    file.finish();
    assert_eq!(on_disk(dir.path()), marks(&[("a", mark(6, "5"))]));
}

#[test]
fn unreadable_marks_are_not_checked_and_are_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(MARKS_FILE), b"{\"format\":1,\"conn").unwrap();
    let stored = marks(&[("a", mark(2, "1"))]);
    check(dir.path(), stored.clone(), Rollback::Refuse).unwrap();
    assert_eq!(on_disk(dir.path()), stored);
}
