//! One listing of a window, between polls: where it stands, and the one seam where the
//! snapshot sources differ, [`Lister`]: how a page is read and a record read by id. The
//! pipeline (`pipeline::snapshot`) drives a listing page by page and commits each.

use std::cell::RefCell;

use chrono::{DateTime, Utc};

use super::diff::{Confirmed, Events, Phase};
use super::{Listed, ListedKeys};
use crate::config::Initial;
use crate::ehr::{EhrClient, EhrError};
use crate::window::Window;

/// Where the next page of a listing is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position {
    /// The first page.
    First,
    /// A page the previous one linked to: a path under `base_url` (with its query).
    Link(String),
    /// The page starting at this record offset (0-based).
    Offset(usize),
}

/// One page as a lister read it.
#[derive(Debug, Default)]
pub struct ListedPage {
    /// The records, in page order.
    pub records: Vec<Listed>,
    /// Where the next page is; `None` when this was the last.
    pub next: Option<Position>,
    /// How many records the EHR says the whole window holds, when it says.
    pub total: Option<u64>,
}

/// How one snapshot source reads its window: the only part that differs between a JSON
/// listing and a FHIR window search. Plain async code; the pipeline owns timing and commits.
#[allow(async_fn_in_trait)]
pub trait Lister {
    /// The scope its records are stored in (see [`crate::model::records`]).
    fn scope(&self) -> &str;

    /// The span a listing covers.
    fn window(&self) -> Window;

    /// What the first listing notifies.
    fn initial(&self) -> Initial;

    /// How its notifications are named.
    fn events(&self) -> &dyn Events;

    /// The listing's query at `now`: rendered once per listing, so every page asks for the
    /// same absolute window.
    fn query(&self, now: DateTime<Utc>) -> String;

    /// Reads the page at `position` of the listing whose query is `query`.
    async fn page(
        &self,
        client: &EhrClient,
        query: &str,
        position: &Position,
    ) -> Result<ListedPage, EhrError>;

    /// Reads the record `key` by id, before its removal is notified; [`Confirmed::Unread`]
    /// when the source has no such read.
    async fn confirm(&self, client: &EhrClient, key: &str) -> Result<Confirmed, EhrError>;
}

/// The most pages one listing reads (a window of 10,000 pages of 1,000 records is ten
/// million): past it the EHR's links are taken to loop, and the listing ends as inconsistent
/// rather than reading forever without ever deciding a removal.
pub const MAX_LISTING_PAGES: usize = 10_000;

/// A listing in progress.
#[derive(Debug)]
pub struct Listing {
    /// When it started (Courier's clock).
    pub started: DateTime<Utc>,
    /// The query every page asks with.
    pub query: String,
    /// The window at `started`, `[start, end)` in Unix seconds.
    pub bounds: (i64, i64),
    /// What it notifies (a first listing's phase, or steady).
    pub phase: Phase,
    /// How many listings of the scope completed before this one.
    pub completed_before: u64,
    /// The keys listed so far.
    pub listed: ListedKeys,
    /// The next page to read; `None` once every page was read (the sweep is next).
    pub next: Option<Position>,
    /// Pages read so far.
    pub pages: usize,
    /// Records listed more than once (a listing whose pages shifted).
    pub duplicates: usize,
    /// The listing was cut at [`MAX_LISTING_PAGES`]: its links did not end.
    pub cut: bool,
    /// The EHR's total for the window, as its last page said.
    pub total: Option<u64>,
    /// Two pages gave different totals: the window changed while it was read (a record
    /// deleted between pages shifts the next one out of sight, yet the last page's total
    /// matches what was listed).
    pub total_changed: bool,
    /// Where the sweep's scan of stored records stands (the last key swept).
    pub swept_to: Option<String>,
    /// What the listing notified, for its closing log line.
    pub counts: ListingCounts,
}

/// What a listing found, for its closing log line and status.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ListingCounts {
    /// Records listed.
    pub listed: usize,
    /// Notifications of new records.
    pub created: usize,
    /// Notifications of changed records.
    pub updated: usize,
    /// Notifications of removed or deleted records.
    pub removed: usize,
    /// Records forgotten because their date left the window.
    pub forgotten: usize,
}

impl Listing {
    /// A listing starting at `now`, after `completed` listings of its scope.
    pub fn start(lister: &dyn ListerInfo, now: DateTime<Utc>, completed: Option<u64>) -> Self {
        let phase = match (completed, lister.initial()) {
            (Some(_), _) => Phase::Steady,
            (None, Initial::Baseline) => Phase::Baseline,
            (None, Initial::Notify) => Phase::Backfill,
        };
        Self {
            started: now,
            query: lister.query(now),
            bounds: lister.window().bounds(now),
            phase,
            completed_before: completed.unwrap_or(0),
            listed: ListedKeys::default(),
            next: Some(Position::First),
            pages: 0,
            duplicates: 0,
            cut: false,
            total: None,
            total_changed: false,
            swept_to: None,
            counts: ListingCounts::default(),
        }
    }

    /// Why the listing cannot tell removals, if it cannot: a key listed twice (its pages
    /// shifted, so another may have been skipped), or a count other than the EHR's total.
    pub fn inconsistency(&self) -> Option<String> {
        if self.cut {
            return Some(format!(
                "the listing was cut after {MAX_LISTING_PAGES} pages: the EHR's next links do not \
                 end (a loop?), so nothing is removed on this listing"
            ));
        }
        if self.duplicates > 0 {
            return Some(format!(
                "{} records were listed twice: the pages shifted while they were read, so \
                 records may have been skipped; nothing is removed on this listing",
                self.duplicates
            ));
        }
        if self.total_changed {
            return Some(
                "the EHR's total changed between pages: the window changed while it was read, \
                 so records may have been skipped; nothing is removed on this listing"
                    .to_owned(),
            );
        }
        match self.total {
            Some(total) if total != self.listed.len() as u64 => Some(format!(
                "the EHR's total is {total} but {} records were listed; nothing is removed on \
                 this listing",
                self.listed.len()
            )),
            _ => None,
        }
    }
}

/// The parts of a [`Lister`] a listing's start needs (object-safe, unlike the lister).
pub trait ListerInfo {
    /// See [`Lister::window`].
    fn window(&self) -> Window;
    /// See [`Lister::initial`].
    fn initial(&self) -> Initial;
    /// See [`Lister::query`].
    fn query(&self, now: DateTime<Utc>) -> String;
}

impl<L: Lister> ListerInfo for L {
    fn window(&self) -> Window {
        Lister::window(self)
    }

    fn initial(&self) -> Initial {
        Lister::initial(self)
    }

    fn query(&self, now: DateTime<Utc>) -> String {
        Lister::query(self, now)
    }
}

/// A scope's listing between polls: lives as long as the connection's generation (a restart
/// starts a new listing; what earlier pages committed is in the store, so nothing repeats).
#[derive(Debug, Default)]
pub struct ListingState {
    current: RefCell<Option<Listing>>,
    /// Why the last listing could not tell removals, until a listing can again.
    warning: RefCell<Option<String>>,
}

impl ListingState {
    /// Takes the listing in progress, if any (the pipeline puts it back after a page).
    pub fn take(&self) -> Option<Listing> {
        self.current.borrow_mut().take()
    }

    /// Keeps `listing` for the next poll.
    pub fn keep(&self, listing: Listing) {
        *self.current.borrow_mut() = Some(listing);
    }

    /// Sets (or, with `None`, clears) the lasting condition a completed listing found.
    pub fn warn(&self, warning: Option<String>) {
        *self.warning.borrow_mut() = warning;
    }

    /// The lasting conditions, for status (see `pipeline::poll_page`'s `warn`).
    pub fn warnings(&self) -> Vec<String> {
        self.warning.borrow().iter().cloned().collect()
    }
}

impl Listing {
    /// Notes a page's total for the window: a total that differs from an earlier page's
    /// makes the listing inconsistent.
    pub fn note_total(&mut self, total: Option<u64>) {
        if let (Some(before), Some(now)) = (self.total, total) {
            self.total_changed |= before != now;
        }
        self.total = total.or(self.total);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;

    impl ListerInfo for Fixed {
        fn window(&self) -> Window {
            let expr = |text| crate::window::TimeExpr::parse(text).unwrap();
            Window {
                start: expr("now-1d"),
                end: expr("now+1d"),
            }
        }

        fn initial(&self) -> Initial {
            Initial::Baseline
        }

        fn query(&self, _now: DateTime<Utc>) -> String {
            String::new()
        }
    }

    /// Found with the simulated schedule: a record deleted between two offset pages shifts
    /// the next one out of sight, and the last page's total then equals what was listed.
    #[test]
    fn a_total_that_changes_between_pages_makes_the_listing_inconsistent() {
        let mut listing = Listing::start(&Fixed, Utc::now(), Some(1));
        for key in ["a", "b", "d", "e", "f"] {
            listing.listed.insert(key);
        }
        listing.note_total(Some(6));
        listing.note_total(Some(5));
        assert!(listing.inconsistency().unwrap().contains("total changed"));
        let mut cut = Listing::start(&Fixed, Utc::now(), Some(1));
        cut.cut = true;
        assert!(cut.inconsistency().unwrap().contains("do not end"));
        let mut steady = Listing::start(&Fixed, Utc::now(), Some(1));
        steady.listed.insert("a");
        steady.note_total(Some(1));
        steady.note_total(None);
        assert_eq!(steady.inconsistency(), None);
    }
}
