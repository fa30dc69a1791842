//! Where the lookup reads: the dead letters, the pending containers and the retained
//! notifications, each read bounded; and how what it reads becomes a [`Match`].

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::{Match, RETAINED_SCAN_AT_MOST};
use crate::admin::AdminState;
use crate::model::DeadLetter;
use crate::status::journal::{event_type_of, Lookup, Outcome};
use crate::store::{DeadLetterFilter, Retained, RetainedRange, StoreError};

/// Pending containers and dead letters a key lookup reads at most.
const SCAN_AT_MOST: usize = 1000;
/// Read a page at a time.
const PAGE: usize = 500;

pub(super) fn key_of(body: &Value) -> Option<String> {
    body["data"]["key"].as_str().map(str::to_owned)
}

pub(super) fn from_dead_letter(letter: &DeadLetter) -> Match {
    Match {
        id: letter.notification_id.clone(),
        connection: letter.connection.clone(),
        sequence: letter.sequence,
        key: key_of(&letter.body),
        event_type: letter.body["type"].as_str().map(str::to_owned),
        destination: Some(letter.destination.clone()),
        outcome: Outcome::DeadLetter,
        attempts: u32::try_from(letter.attempts.len()).ok(),
        at: Some(letter.dead_at),
        found_in: "dead_letters",
        body_available: true,
    }
}

pub(super) fn from_retained(retained: &Retained) -> Match {
    let n = &retained.notification;
    Match {
        id: n.id.clone(),
        connection: n.connection.clone(),
        sequence: n.sequence,
        key: Some(n.key.clone()),
        event_type: event_type_of(&n.body),
        destination: Some(retained.key.destination.clone()),
        outcome: Outcome::Delivered,
        attempts: None,
        at: Some(retained.key.delivered_at),
        found_in: "retained",
        body_available: true,
    }
}

/// Whether a notification answers `lookup`.
pub(super) fn answers(
    lookup: Lookup<'_>,
    id: &str,
    connection: &str,
    sequence: u64,
    key: Option<&str>,
) -> bool {
    match lookup {
        Lookup::Id(wanted) => id == wanted,
        Lookup::Key(wanted, only) => key == Some(wanted) && only.is_none_or(|c| c == connection),
        Lookup::Sequence(of, wanted) => of == connection && sequence == wanted,
    }
}

/// How much of the retained notifications a lookup read.
#[derive(Debug, Default, Serialize)]
pub(super) struct Scanned {
    /// Notifications read.
    pub(super) read: usize,
    /// False when the bound stopped the read before the end of the window.
    pub(super) complete: bool,
    /// The window's start.
    pub(super) since: Option<DateTime<Utc>>,
}

/// Reads retained notifications of `destinations` delivered since `since` (of `connection`
/// only, when given), at most [`RETAINED_SCAN_AT_MOST`] in all, handing each to `seen`.
pub(super) async fn scan_retained(
    state: &AdminState,
    destinations: &[String],
    since: DateTime<Utc>,
    connection: Option<&str>,
    mut seen: impl FnMut(&Retained),
) -> Result<Scanned, StoreError> {
    let mut scanned = Scanned {
        read: 0,
        complete: true,
        since: Some(since),
    };
    for destination in destinations {
        let range = RetainedRange {
            destination: destination.clone(),
            since,
            until: None,
            connection: connection.map(str::to_owned),
        };
        let mut reader = state.store.read_retained(&range);
        loop {
            let room = RETAINED_SCAN_AT_MOST - scanned.read;
            if room == 0 {
                scanned.complete = false;
                return Ok(scanned);
            }
            let page = reader.next_page(room.min(PAGE)).await?;
            if page.is_empty() {
                break;
            }
            scanned.read += page.len();
            page.iter().for_each(&mut seen);
        }
    }
    Ok(scanned)
}

/// The destinations to read retained notifications of: those the matches went to, or every
/// destination when none is known.
pub(super) fn destinations_to_scan(state: &AdminState, matches: &[Match]) -> Vec<String> {
    let mut known: Vec<String> = matches
        .iter()
        .filter_map(|m| m.destination.clone())
        .collect();
    known.sort();
    known.dedup();
    if known.is_empty() {
        known = state
            .board
            .destinations_snapshot()
            .destinations
            .into_keys()
            .collect();
    }
    known
}

/// Dead letters answering `lookup`: one read by id, or a bounded read of a connection's (or
/// all) dead letters.
pub(super) async fn dead_letters(
    state: &AdminState,
    lookup: Lookup<'_>,
) -> Result<Vec<DeadLetter>, StoreError> {
    if let Lookup::Id(id) = lookup {
        return Ok(state
            .store
            .find_dead_letter(id)
            .await?
            .into_iter()
            .collect());
    }
    let connection = match lookup {
        Lookup::Key(_, connection) => connection,
        Lookup::Sequence(connection, _) => Some(connection),
        Lookup::Id(_) => None,
    };
    let filter = DeadLetterFilter {
        destination: None,
        connection: connection.map(str::to_owned),
    };
    let (mut found, mut read, mut after) = (Vec::new(), 0, None::<String>);
    while read < SCAN_AT_MOST {
        let page = state
            .store
            .dead_letter_page(&filter, after.as_deref(), PAGE)
            .await?;
        read += page.letters.len();
        found.extend(page.letters.into_iter().filter(|l| {
            answers(
                lookup,
                &l.notification_id,
                &l.connection,
                l.sequence,
                key_of(&l.body).as_deref(),
            )
        }));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    Ok(found)
}

/// Pending containers answering `lookup` (their bodies are not held): one read by sequence,
/// or a bounded read of a connection's pending containers by key.
pub(super) async fn pending(
    state: &AdminState,
    lookup: Lookup<'_>,
) -> Result<Vec<Match>, StoreError> {
    let containers = match lookup {
        Lookup::Sequence(connection, sequence) => state
            .store
            .container(connection, sequence)
            .await?
            .into_iter()
            .collect(),
        Lookup::Key(key, Some(connection)) => {
            let page = state
                .store
                .pending_page(connection, 0, SCAN_AT_MOST)
                .await?;
            let containers = page.items.into_iter().filter_map(Result::ok);
            containers.filter(|c| c.key == key).collect()
        }
        _ => Vec::new(),
    };
    let destination_of = state.control.destination_of_connections();
    Ok(containers
        .into_iter()
        .map(|c| Match {
            destination: destination_of.get(&c.connection).cloned(),
            id: c.notification_id,
            connection: c.connection,
            sequence: c.sequence,
            key: Some(c.key),
            event_type: Some(c.event_type),
            outcome: Outcome::Pending,
            attempts: None,
            at: Some(c.detected_at),
            found_in: "pending",
            body_available: false,
        })
        .collect())
}
