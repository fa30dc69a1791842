//! Comparing a listing with what earlier listings stored: the pure heart of the snapshot
//! sources, shared by a JSON listing and a FHIR window search, which differ only in how
//! they read pages and name their events ([`Events`]).

use std::collections::{HashMap, HashSet};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::fhir::events::Fingerprint;
use crate::model::{FhirContext, RecordChange, Recorded};

/// One record as a listing found it.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    /// The container key (`Type/id` for a FHIR resource).
    pub key: String,
    /// Its date inside the window, Unix seconds.
    pub date: i64,
    /// Its fingerprint, of the compared fields.
    pub fingerprint: Fingerprint,
    /// The record as listed.
    pub record: Value,
}

/// One notification's naming: its `type` and `data.changed_elements`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The notification's `type`.
    pub event_type: String,
    /// What changed, in name order.
    pub changed_elements: Vec<String>,
}

/// How a record source names its events, and what a container of it carries besides the
/// record.
pub trait Events {
    /// A record seen for the first time (or again after a removal).
    fn created(&self, current: &Fingerprint) -> Event;
    /// A record whose compared fields changed.
    fn updated(&self, previous: &Fingerprint, current: &Fingerprint) -> Event;
    /// A record no longer listed while its date is inside the window, not read by id.
    fn removed(&self, previous: &Fingerprint) -> Event;
    /// A record that its read by id answered 404 or 410 for.
    fn deleted(&self, previous: &Fingerprint) -> Event;
    /// The FHIR side of a container of `key`, for a FHIR source; `None` otherwise.
    fn fhir(&self, key: &str, event: &Event) -> Option<FhirContext>;

    /// A change's version from the record's revision and content hash ([`version`] unless a
    /// source writes it otherwise, so it cannot be taken for the EHR's own version).
    fn version(&self, revision: u64, content: u64) -> String {
        version(revision, content)
    }
}

/// The keys listed so far in one listing, as 8-byte hashes: a window of 100,000 records
/// takes under 2 MB.
#[derive(Debug, Default)]
pub struct ListedKeys {
    hashes: HashSet<u64>,
}

impl ListedKeys {
    /// Notes `key` as listed; false when the listing had it already (a duplicate).
    pub fn insert(&mut self, key: &str) -> bool {
        self.hashes.insert(key_hash(key))
    }

    /// Whether the listing had `key`.
    pub fn contains(&self, key: &str) -> bool {
        self.hashes.contains(&key_hash(key))
    }

    /// How many distinct keys were listed.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// True before the first record.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }
}

/// The first 8 bytes of SHA-256 of the key: stable and, among one window's keys,
/// collision-free in practice (a collision would only make one record look listed twice).
fn key_hash(key: &str) -> u64 {
    let digest = Sha256::digest(key.as_bytes());
    u64::from_be_bytes(digest[..8].try_into().expect("SHA-256 has 32 bytes"))
}

/// What the first listing of a scope notifies (see the module doc of [`super`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The first listing with `initial = "baseline"`: record, notify nothing.
    Baseline,
    /// The first listing with `initial = "notify"`: every new record with `backfill`.
    Backfill,
    /// Any later listing.
    Steady,
}

/// What one page brings to its commit.
#[derive(Debug, Default, PartialEq)]
pub struct PageDiff {
    /// Changes that get containers, in page order.
    pub changes: Vec<RecordChange>,
    /// Records to write, by key (one per key, the last listed).
    pub records: Vec<(String, Option<Recorded>)>,
    /// Records listed before in this listing (the page repeats them).
    pub duplicates: usize,
    /// Records whose compared fields did not change.
    pub unchanged: usize,
    /// Notifications of new records.
    pub created: usize,
    /// Notifications of changed records.
    pub updated: usize,
}

/// Compares a page with `before` (the stored record of each listed record's key, in page
/// order), noting each key in `listed`. Only records that differ from the stored ones are
/// written, so a listing where little changed writes little.
pub fn diff_page(
    page: Vec<Listed>,
    before: Vec<Option<Recorded>>,
    listed: &mut ListedKeys,
    phase: Phase,
    events: &dyn Events,
) -> PageDiff {
    let mut diff = PageDiff::default();
    // A key listed twice in one page compares with its first listing, not the store.
    let mut latest: HashMap<String, Option<Recorded>> = HashMap::new();
    let mut order = Vec::new();
    for (record, stored) in page.into_iter().zip(before) {
        if !listed.insert(&record.key) {
            diff.duplicates += 1;
        }
        let stored = match latest.get(&record.key) {
            Some(earlier) => earlier.clone(),
            None => {
                order.push((record.key.clone(), stored.clone()));
                stored
            }
        };
        let new = stored.as_ref().is_none_or(|s| s.fingerprint.is_none());
        let (change, recorded) = compare(record.key.clone(), stored, &record, phase, events);
        match change {
            Some(change) => {
                *(if new {
                    &mut diff.created
                } else {
                    &mut diff.updated
                }) += 1;
                diff.changes.push(change);
            }
            None => diff.unchanged += 1,
        }
        latest.insert(record.key, Some(recorded));
    }
    for (key, stored) in order {
        let recorded = latest.remove(&key).flatten();
        if recorded != stored {
            diff.records.push((key, recorded));
        }
    }
    diff
}

/// One listed record against its stored one: the change to notify, if any, and what to store.
fn compare(
    key: String,
    stored: Option<Recorded>,
    listed: &Listed,
    phase: Phase,
    events: &dyn Events,
) -> (Option<RecordChange>, Recorded) {
    let current = &listed.fingerprint;
    let revision = stored.as_ref().map_or(0, |s| s.revision);
    let previous = stored.and_then(|s| s.fingerprint);
    let event = match &previous {
        Some(previous) if previous.same_content(current) => None,
        Some(previous) => Some(events.updated(previous, current)),
        None if phase == Phase::Baseline => None,
        None => Some(events.created(current)),
    };
    let Some(event) = event else {
        // Unchanged (or recorded by the baseline): the date may still have moved.
        let recorded = Recorded {
            fingerprint: Some(current.clone()),
            revision,
            date: Some(listed.date),
        };
        return (None, recorded);
    };
    let revision = revision + 1;
    let backfill = phase == Phase::Backfill && previous.is_none();
    let change = change(
        &key,
        revision,
        current,
        event,
        listed.record.clone(),
        backfill,
        events,
    );
    let recorded = Recorded {
        fingerprint: Some(current.clone()),
        revision,
        date: Some(listed.date),
    };
    (Some(change), recorded)
}

fn change(
    key: &str,
    revision: u64,
    fingerprint: &Fingerprint,
    event: Event,
    record: Value,
    backfill: bool,
    events: &dyn Events,
) -> RecordChange {
    let fhir = events.fhir(key, &event);
    RecordChange {
        key: key.to_owned(),
        version: events.version(revision, fingerprint.content_hash()),
        changed_elements: fhir.is_none().then_some(event.changed_elements),
        event_type: event.event_type,
        change: record,
        fhir,
        backfill,
    }
}

/// A change's version: the record's revision and the hash of what it became (`0` for a
/// removal), so the same change keeps its id and a return to earlier content does not.
pub fn version(revision: u64, content: u64) -> String {
    format!("{revision}-{content:016x}")
}

/// What the sweep of a completed listing makes of one stored record it did not list.
#[derive(Debug, Clone, PartialEq)]
pub enum Unlisted {
    /// Its date left the window (or it is the tombstone of one whose date did): forget it
    /// without a notification.
    Forget(String),
    /// Its date is inside the window and it was live: it was removed, unless a read by id
    /// says otherwise.
    Removed(String, Recorded),
}

/// The stored records of one scan page that the listing did not list, and what they
/// became; tombstones still inside the window, the marker, and listed records are left be.
/// `bounds` is the window at the listing's start, `[start, end)` in Unix seconds.
pub fn sweep(
    scanned: Vec<(String, Recorded)>,
    listed: &ListedKeys,
    (start, end): (i64, i64),
) -> Vec<Unlisted> {
    scanned
        .into_iter()
        .filter(|(key, _)| key != super::MARKER_KEY && !listed.contains(key))
        .filter_map(|(key, recorded)| {
            let inside = recorded.date.is_some_and(|d| start <= d && d < end);
            match (inside, recorded.fingerprint.is_some()) {
                (false, _) => Some(Unlisted::Forget(key)),
                (true, true) => Some(Unlisted::Removed(key, recorded)),
                (true, false) => None,
            }
        })
        .collect()
}

/// What a read by id of an unlisted record found.
#[derive(Debug, Clone, PartialEq)]
pub enum Confirmed {
    /// No read was made (no `confirm_path`).
    Unread,
    /// 404 or 410: the record is gone.
    Gone,
    /// The record is there: it changed so that the listing no longer includes it (moved out
    /// of the window, or to a status the query filters out).
    Present(Listed),
}

/// The notification (if any) and the record to store (`None`: forget) for an unlisted
/// record whose date was inside the window, given what reading it by id found.
pub fn removal(
    key: String,
    stored: Recorded,
    confirmed: Confirmed,
    (start, end): (i64, i64),
    events: &dyn Events,
) -> (Option<RecordChange>, Option<Recorded>) {
    let previous = stored
        .fingerprint
        .clone()
        .expect("only live records are removed");
    let revision = stored.revision + 1;
    let gone = |event: Event| {
        let tombstone = Recorded {
            fingerprint: None,
            revision,
            date: stored.date,
        };
        let change = RecordChange {
            key: key.clone(),
            version: events.version(revision, 0),
            changed_elements: None,
            fhir: events.fhir(&key, &event),
            event_type: event.event_type,
            change: Value::Null,
            backfill: false,
        };
        (Some(change), Some(tombstone))
    };
    match confirmed {
        Confirmed::Unread => gone(events.removed(&previous)),
        Confirmed::Gone => gone(events.deleted(&previous)),
        Confirmed::Present(listed) => {
            let inside = start <= listed.date && listed.date < end;
            let (change, recorded) = compare(key, Some(stored), &listed, Phase::Steady, events);
            // Out of the window it is no longer the listing's to watch; inside it (filtered
            // out by the query) it is kept, and read by id again at each sweep.
            (change, inside.then_some(recorded))
        }
    }
}

/// The events of a `source = "snapshot"` connection: `{prefix}.created`, `.updated`,
/// `.removed`, `.deleted`, with the compared fields that changed.
pub struct PrefixEvents<'a> {
    /// `event_prefix`.
    pub prefix: &'a str,
}

impl PrefixEvents<'_> {
    fn event(&self, action: &str, changed_elements: Vec<String>) -> Event {
        Event {
            event_type: format!("{}.{action}", self.prefix),
            changed_elements,
        }
    }
}

impl Events for PrefixEvents<'_> {
    fn created(&self, current: &Fingerprint) -> Event {
        self.event("created", current.element_names())
    }

    fn updated(&self, previous: &Fingerprint, current: &Fingerprint) -> Event {
        self.event("updated", current.changed_since(previous))
    }

    fn removed(&self, _previous: &Fingerprint) -> Event {
        self.event("removed", Vec::new())
    }

    fn deleted(&self, _previous: &Fingerprint) -> Event {
        self.event("deleted", Vec::new())
    }

    fn fhir(&self, _key: &str, _event: &Event) -> Option<FhirContext> {
        None
    }
}

#[cfg(test)]
mod tests;
