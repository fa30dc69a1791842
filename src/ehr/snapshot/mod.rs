//! Sources that cannot say what changed: each listing of a time window is compared with what
//! the last listings found, record by record.
//!
//! # How a listing becomes changes
//! A listing reads every page of the window (the query's time expressions rendered once, at
//! its start, so every page asks for the same absolute window). Each page is compared with
//! the records stored for its keys ([`diff::diff_page`]) and committed at once: its
//! containers, its records and nothing else, so memory holds one page and the 8-byte hash of
//! each key listed so far, whatever the window's size.
//!
//! Only once every page was read without error, and the listing was consistent (no key
//! listed twice, as offset paging does when records shift between pages; as many records as
//! the EHR's total, when it gives one), are the stored records that were not listed walked,
//! a page at a time ([`diff::sweep`]): one whose date is still inside the window was removed
//! (or, read by id, deleted, or changed out of the window); one whose date left the window
//! because time passed is forgotten without a notification. A failed or inconsistent listing
//! removes nothing; the next listing tries again.
//!
//! # What is kept per record
//! A [`Recorded`]: the fingerprint (8-byte hashes of the compared fields), the record's date,
//! and a revision counting its notified changes. A change's version is
//! `{revision}-{content hash}`, so the same change gets the same notification id across a
//! crash and re-listing, and a record that goes back to an earlier content gets a new one.
//! A removed record stays as a tombstone until its date leaves the window, so one that comes
//! back is `created` under a new revision.
//!
//! # The first listing
//! Each scope keeps a marker record under the empty key (no record has an empty key): absent
//! until a listing of the scope completed. Until then a listing is the *baseline*: with
//! `initial = "baseline"` it records fingerprints and notifies nothing; with `"notify"` every
//! record is `created` with `data.backfill = true`.

pub mod diff;
pub mod json;
pub mod listing;

pub use diff::{Listed, ListedKeys};
pub use json::JsonLister;
pub use listing::{Lister, Listing, ListingState, Position};

use crate::model::Recorded;

/// A `source = "snapshot"` connection's reader: how it lists its window, and the listing
/// under way. Lives as long as the connection's generation (see [`ListingState`]).
pub struct SnapshotReader {
    /// Reads the window's pages and records by id.
    pub lister: JsonLister,
    /// The listing under way, and the warning of the last completed one.
    pub state: ListingState,
}

/// The key of a scope's marker record (see the module doc): no listed record has it.
pub const MARKER_KEY: &str = "";

/// The marker a completed listing leaves: how many listings of the scope completed, and
/// when the last one started (Unix seconds).
pub fn marker(completed: u64, started: i64) -> Recorded {
    Recorded {
        fingerprint: None,
        revision: completed,
        date: Some(started),
    }
}
