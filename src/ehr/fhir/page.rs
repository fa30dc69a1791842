//! What one read of the FHIR source answers: the page found (its versions, and where the
//! read's cursor goes), the read the next poll makes, and the stored cursors it starts from.

use chrono::{DateTime, FixedOffset};

use super::take::{Taken, Versions};
use crate::model::{CursorValue, FhirCommit, FhirCursor, Track};

/// What one page of one type and track found, before anything of it is durable.
#[derive(Debug)]
pub struct FhirPage {
    /// Where the read was, and where its cursor goes.
    pub read: FhirRead,
    /// The versions found, for the pipeline to sort against those seen before.
    pub versions: Versions,
}

/// Where one read of one type and track was, and where its cursor goes once the page is
/// committed.
#[derive(Debug)]
pub struct FhirRead {
    /// The resource type read.
    pub type_name: String,
    /// Which of its reads.
    pub track: Track,
    /// The cursor after the page: never behind the one read from.
    pub cursor: FhirCursor,
    /// Whether the cursor moved.
    pub moved: bool,
    /// Entries the server returned.
    pub returned: usize,
    /// More is waiting for this type and track.
    pub more: bool,
    /// The read's place in its round, for [`super::FhirPoller::committed`].
    pub(super) at: usize,
}

impl FhirRead {
    /// A read of `type_name`'s `track` that started at `current` and read up to `next`, which
    /// only counts when it is ahead of `current` (a cursor never moves back).
    pub(super) fn new(
        type_name: &str,
        track: Track,
        (current, next): (FhirCursor, FhirCursor),
    ) -> Self {
        let cursor = if is_ahead(&next, &current) {
            next
        } else {
            current.clone()
        };
        Self {
            type_name: type_name.to_owned(),
            track,
            moved: cursor != current,
            cursor,
            returned: 0,
            more: false,
            at: 0,
        }
    }

    /// The commit of this page with what `taken` took from it: its changes, the versions
    /// seen, and the cursor; `None` when the page changed nothing (nothing is written then).
    pub fn commit(&self, taken: Taken) -> Option<FhirCommit> {
        if taken.changes.is_empty() && taken.seen.is_empty() && !self.moved {
            return None;
        }
        Some(FhirCommit {
            type_name: self.type_name.clone(),
            track: self.track,
            cursor: self.cursor.clone(),
            changes: taken.changes,
            seen: taken.seen,
        })
    }

    /// The cursor as status shows it: `Type:since`.
    pub fn status(&self) -> CursorValue {
        CursorValue(format!("{}:{}", self.type_name, self.cursor.since))
    }
}

/// The stored cursors a read needs (`None` for a track that never committed one).
#[derive(Debug, Default)]
pub struct StoredCursors {
    /// The type's search cursor.
    pub search: Option<FhirCursor>,
    /// The type's deletions cursor (read only when the planned read is its deletions).
    pub deletes: Option<FhirCursor>,
}

/// The read a poll makes next: the resource type and track whose stored cursors the pipeline
/// looks up before [`super::FhirPoller::read`].
#[derive(Debug)]
pub struct NextRead {
    /// The resource type.
    pub type_name: String,
    /// Its deletions first, or its search.
    pub track: Track,
    /// The place in the round.
    pub(super) at: usize,
}

/// Whether `next` is after `current`: a later instant, or the same one now read whole.
fn is_ahead(next: &FhirCursor, current: &FhirCursor) -> bool {
    let at = |c: &FhirCursor| DateTime::<FixedOffset>::parse_from_rfc3339(&c.since).ok();
    match (at(next), at(current)) {
        (Some(n), Some(c)) => n > c || (n == c && next.past && !current.past),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursor(since: &str, past: bool) -> FhirCursor {
        FhirCursor {
            since: since.into(),
            past,
        }
    }
    #[test]
    fn a_cursor_only_moves_forward() {
        let t1 = "2026-11-26T04:14:11.323Z";
        let t2 = "2026-11-26T04:14:11.324Z";
        assert!(is_ahead(&cursor(t2, false), &cursor(t1, true)));
        assert!(is_ahead(&cursor(t1, true), &cursor(t1, false)));
        assert!(!is_ahead(&cursor(t1, false), &cursor(t1, true)));
        assert!(!is_ahead(&cursor(t1, false), &cursor(t2, false)));
        assert!(!is_ahead(&cursor(t1, false), &cursor(t1, false)));
        assert!(!is_ahead(&cursor("1 Nov", false), &cursor(t1, false)));
    }
}
