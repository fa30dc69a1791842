//! The poll pipeline: where what a source read becomes durable. One poll reads the source's
//! position from the store, asks the source ([`crate::ehr`]) for the page after it, and
//! commits the page's containers with the new position in one transaction; what it answers
//! is what the connection dispatches, and what decides when it polls next.
//!
//! Plain async code, no actors: the connection actor only decides when a poll runs. The EHR
//! side never touches the store; this module is the one place where a source's outcome and
//! the store meet.

mod consume;
mod fhir_window;
pub mod poll;
pub mod snapshot;

use std::time::Duration;

use crate::ehr::EhrError;
use crate::model::{Container, CursorValue};
use crate::store::StoreError;

pub use poll::poll_page;

/// What one page brought, once durable.
#[derive(Debug)]
pub struct PageResult {
    /// Containers created for the page's new items, durable and in sequence order.
    pub containers: Vec<Container>,
    /// How many containers the page created (kept when the caller takes `containers`).
    pub created: usize,
    /// Items the feed returned, new or not.
    pub returned: usize,
    /// The page size asked for, when the feed pages.
    pub requested: Option<usize>,
    /// The cursor after the page.
    pub cursor: CursorValue,
    /// Whether the cursor moved.
    pub cursor_moved: bool,
    /// Items dropped because they were before the cursor (re-sent by a coarse `since`).
    pub behind: usize,
    /// The source has more to read at once, whatever the page's size (a FHIR source going
    /// round its resource types).
    pub more: bool,
}

impl PageResult {
    /// A full page means more may be waiting: poll again at once.
    pub fn was_full(&self) -> bool {
        self.more || self.filled_page()
    }

    fn filled_page(&self) -> bool {
        self.requested.is_some_and(|size| self.returned >= size)
    }

    /// A full page that brought nothing new and did not move the cursor: every item shares
    /// the cursor's position, and only a larger page can get past it.
    pub fn is_stuck(&self) -> bool {
        self.filled_page() && self.created == 0 && !self.cursor_moved
    }

    /// Why a page is still stuck at the widest page allowed (`page_size`). Items before the
    /// cursor mean the page *starts* before it: the feed ignores `since_param` (or reads it
    /// coarser than its positions), which a crowded position only looks like.
    pub fn stuck_reason(&self, page_size: usize, since_param: &str) -> String {
        if self.behind == 0 {
            return format!(
                "{} items share cursor position {}; raise page_size above {page_size}",
                self.returned, self.cursor
            );
        }
        format!(
            "the feed's page starts before the cursor: {} of its {} items are before cursor \
             position {}, so the feed ignores {since_param:?} or reads it coarser than its \
             positions; make it honour {since_param:?}, or raise page_size above {page_size}",
            self.behind, self.returned, self.cursor
        )
    }
}

/// Why a poll failed; the cursor did not move.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    /// The EHR failed or answered something unusable.
    #[error(transparent)]
    Ehr(#[from] EhrError),
    /// The page could not be made durable.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl PollError {
    /// How long the EHR asked us to wait, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            PollError::Ehr(err) => err.retry_after(),
            PollError::Store(_) => None,
        }
    }

    /// Whether waiting alone will not help (see [`EhrError::needs_operator`]); a store that
    /// fails always needs one.
    pub fn needs_operator(&self) -> bool {
        match self {
            PollError::Ehr(err) => err.needs_operator(),
            PollError::Store(_) => true,
        }
    }

    /// A short, stable label for status and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            PollError::Ehr(err) => err.kind(),
            PollError::Store(_) => "store",
        }
    }
}

#[cfg(test)]
mod tests;
