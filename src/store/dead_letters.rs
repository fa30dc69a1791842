//! What operator actions on dead letters select and answer: a filter, a selection for a retry
//! or a purge, and a page of a listing. Every backend pages the same way: by
//! `<connection>/<sequence>` position, oldest connection sequence first.

use serde::{Deserialize, Serialize};

use crate::model::DeadLetter;

/// The filter that matches every dead letter.
pub const EVERY: DeadLetterFilter = DeadLetterFilter {
    destination: None,
    connection: None,
};

/// Which dead letters an operation concerns; an empty filter matches every one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetterFilter {
    /// Only those refused by this destination.
    pub destination: Option<String>,
    /// Only those produced by this connection.
    pub connection: Option<String>,
}

impl DeadLetterFilter {
    /// Whether `letter` is one of those meant.
    pub fn matches(&self, letter: &DeadLetter) -> bool {
        self.destination
            .as_ref()
            .is_none_or(|d| *d == letter.destination)
            && self
                .connection
                .as_ref()
                .is_none_or(|c| *c == letter.connection)
    }

    /// Whether the filter names neither a destination nor a connection.
    pub fn is_empty(&self) -> bool {
        self.destination.is_none() && self.connection.is_none()
    }
}

/// What a retry or a purge acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeadLetterSelection {
    /// The dead letter(s) of one notification id.
    Id(String),
    /// Every dead letter the filter matches.
    Matching(DeadLetterFilter),
}

/// One page of dead letters, oldest connection sequence first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeadLetterPage {
    /// The dead letters of this page.
    pub letters: Vec<DeadLetter>,
    /// Where the next page starts (`<connection>/<sequence>` of this page's last letter), or
    /// `None` when this is the last page.
    pub next: Option<String>,
}

/// Reads a page position `<connection>/<sequence>`.
pub fn parse_position(position: &str) -> Option<(String, u64)> {
    let (connection, sequence) = position.rsplit_once('/')?;
    Some((connection.to_owned(), sequence.parse().ok()?))
}
