//! The simulated EHR's schedule: appointments listed by a window of start times, as EHRs that
//! cannot say what changed serve them, with the snapshots that keep a listing's pages
//! consistent (or, switched off, the live offset paging that skips and repeats records). Pure
//! data with no I/O, so the paging rules are tested without a server.
//!
//! An appointment costs a few dozen bytes (indices and numbers, no strings), so the benchmark's
//! 100,000 appointments, their start-time index and a few listing snapshots fit in ~20 MB.

use std::collections::{BTreeSet, VecDeque};
use std::ops::Bound;

use chrono::{DateTime, Duration as TimeDelta, NaiveDate, SecondsFormat, Utc};
use serde_json::{json, Value};

/// The statuses an appointment moves through; a change cycles through all but `cancelled`.
const STATUSES: [&str; 5] = ["booked", "arrived", "fulfilled", "noshow", "cancelled"];
/// The index of `cancelled` in [`STATUSES`].
const CANCELLED: u8 = 4;
/// Generated starts fall on this grid, so several appointments share a start (ties by id).
const GRID_SECS: i64 = 300;
/// Listings whose snapshots are kept for their next pages; an older one's cursor has expired.
const SNAPSHOTS_KEPT: usize = 4;

/// One appointment, compactly: the patient's index, a status index, start (Unix seconds),
/// length, and a reminder counter that changes no field a schedule is compared by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot {
    patient: u32,
    status: u8,
    start: i64,
    minutes: u16,
    reminders: u32,
}

/// The window's records in (start, id) order at the moment a listing began; its pages are cut
/// from it, so a change during the listing shows in the next listing only.
#[derive(Debug)]
struct Snapshot {
    version: u64,
    window: (Option<i64>, Option<i64>),
    rows: Vec<(u32, Slot)>,
}

/// Which records a listing request wants and where its page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PageQuery {
    /// Starts at or after this (Unix seconds); `None` is unbounded.
    pub from: Option<i64>,
    /// Starts before this (Unix seconds); `None` is unbounded.
    pub to: Option<i64>,
    /// The page's first record, 0-based.
    pub offset: usize,
    /// At most this many records.
    pub limit: usize,
    /// The listing snapshot a link cursor pinned; `None` for a request without a cursor.
    pub version: Option<u64>,
}

/// Where the page after this one starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// In the same snapshot (consistent mode), at this offset.
    Pinned { version: u64, offset: usize },
    /// In the live data (inconsistent mode), at this offset.
    Live { offset: usize },
}

/// One page of a listing: the window's record count, the page's records, the next page.
#[derive(Debug)]
pub struct Page {
    /// Records in the window: of the snapshot, or of the live data at this page's read.
    pub total: usize,
    /// The page's records, as [`Schedule::record`] shows them.
    pub items: Vec<Value>,
    /// `None` on the last page.
    pub next: Option<Next>,
}

/// What a read by id finds.
#[derive(Debug, PartialEq)]
pub enum Lookup {
    /// The record as listed.
    Found(Value),
    /// The schedule had this appointment and it was deleted.
    Deleted,
    /// Not an appointment of the schedule.
    Unknown,
}

/// The whole schedule: appointments `appt-1`…`appt-N` (deleted ones keep their number), the
/// start-time index that listings read, and the snapshots of recent listings.
#[derive(Debug)]
pub struct Schedule {
    /// Index `n - 1` is `appt-n`; `None` once deleted.
    slots: Vec<Option<Slot>>,
    /// `(start, index)` of every live appointment: the listing order.
    order: BTreeSet<(i64, u32)>,
    /// Appointments name patients `pat-1`…`pat-{patients}`.
    patients: u32,
    rng: fastrand::Rng,
    /// Pages come from one snapshot per listing (`true`, the default) or from live data.
    consistent: bool,
    /// The newest last; at most [`SNAPSHOTS_KEPT`].
    snapshots: VecDeque<Snapshot>,
    versions: u64,
}

impl Schedule {
    /// An empty schedule whose appointments name `patients` patients (at least 1).
    pub fn new(patients: usize, seed: u64) -> Self {
        Self {
            slots: Vec::new(),
            order: BTreeSet::new(),
            patients: u32::try_from(patients.max(1)).unwrap_or(u32::MAX),
            rng: fastrand::Rng::with_seed(seed),
            consistent: true,
            snapshots: VecDeque::new(),
            versions: 0,
        }
    }

    /// Adds a booked appointment at `start` lasting `minutes`; returns its id.
    pub fn add(&mut self, start: DateTime<Utc>, minutes: u16) -> String {
        id_of(self.insert(start.timestamp(), minutes))
    }

    /// Moves an appointment to `start`, keeping its length; `false` for an unknown id.
    pub fn reschedule(&mut self, id: &str, start: DateTime<Utc>) -> bool {
        self.update(id, |slot| slot.start = start.timestamp())
    }

    /// Sets an appointment's status (`cancelled`, `arrived`, …); `false` for an unknown id or
    /// status.
    pub fn set_status(&mut self, id: &str, status: &str) -> bool {
        let Some(status) = STATUSES.iter().position(|s| *s == status) else {
            return false;
        };
        self.update(id, |slot| slot.status = status as u8)
    }

    /// Bumps `reminders` only: a field that changes without the appointment changing.
    pub fn touch_noise(&mut self, id: &str) -> bool {
        self.update(id, |slot| slot.reminders += 1)
    }

    /// Deletes an appointment: it leaves listings, and a read by id finds it gone.
    pub fn delete(&mut self, id: &str) -> bool {
        let Some(index) = self.live_index(id) else {
            return false;
        };
        if let Some(slot) = self.slots[index].take() {
            self.order.remove(&(slot.start, index as u32));
        }
        true
    }

    /// Moves every appointment by `delta`: the data's clock, so records leave a window (or
    /// enter it) as if time passed.
    pub fn shift(&mut self, delta: TimeDelta) {
        let secs = delta.num_seconds();
        self.order = self
            .order
            .iter()
            .map(|&(start, index)| (start + secs, index))
            .collect();
        for slot in self.slots.iter_mut().flatten() {
            slot.start += secs;
        }
    }

    /// Live appointments.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether pages come from one snapshot per listing (`true`) or from the live data.
    pub fn set_consistent(&mut self, consistent: bool) {
        self.consistent = consistent;
    }

    /// An appointment as listings show it, with `lastViewed` set to `now`.
    pub fn record(&self, id: &str, now: DateTime<Utc>) -> Lookup {
        let Some(index) = parse_index(id, self.slots.len()) else {
            return Lookup::Unknown;
        };
        match self.slots[index] {
            Some(slot) => Lookup::Found(render(index as u32, &slot, &viewed(now))),
            None => Lookup::Deleted,
        }
    }

    /// One page of a listing read at `now`, or why the request cannot be answered.
    pub fn page(&mut self, query: &PageQuery, now: DateTime<Utc>) -> Result<Page, &'static str> {
        if query.limit == 0 {
            return Err("limit must be at least 1");
        }
        let viewed = viewed(now);
        if !self.consistent && query.version.is_none() {
            return Ok(self.live_page(query, &viewed));
        }
        let position = self.snapshot_for(query)?;
        let snapshot = &self.snapshots[position];
        let rows = snapshot.rows.iter().skip(query.offset).take(query.limit);
        let items = rows.map(|(i, slot)| render(*i, slot, &viewed)).collect();
        let end = query.offset.saturating_add(query.limit);
        Ok(Page {
            total: snapshot.rows.len(),
            items,
            next: (end < snapshot.rows.len()).then_some(Next::Pinned {
                version: snapshot.version,
                offset: end,
            }),
        })
    }

    /// The page straight from the live index: a record added or deleted before `offset` since
    /// the previous page shifts this one (a record listed twice, or skipped).
    fn live_page(&self, query: &PageQuery, viewed: &str) -> Page {
        let range = || self.order.range(bounds(query.from, query.to));
        let items = range()
            .skip(query.offset)
            .take(query.limit)
            .map(|&(_, i)| render(i, &self.slots[i as usize].expect("indexed"), viewed))
            .collect();
        let total = range().count();
        let end = query.offset.saturating_add(query.limit);
        Page {
            total,
            items,
            next: (end < total).then_some(Next::Live { offset: end }),
        }
    }

    /// The snapshot a request reads: the one its cursor pinned; for a request without one, a
    /// new snapshot at offset 0, else the newest of the same window (an offset client's next
    /// page), else a new one.
    fn snapshot_for(&mut self, query: &PageQuery) -> Result<usize, &'static str> {
        let window = (query.from, query.to);
        let found = match query.version {
            Some(version) => Some(
                self.snapshots
                    .iter()
                    .rposition(|s| s.version == version)
                    .ok_or("the cursor has expired; start the listing again")?,
            ),
            None if query.offset == 0 => None,
            None => self.snapshots.iter().rposition(|s| s.window == window),
        };
        let position = match found {
            Some(position) => position,
            None => {
                self.versions += 1;
                let rows = self
                    .order
                    .range(bounds(query.from, query.to))
                    .map(|&(_, i)| (i, self.slots[i as usize].expect("indexed")))
                    .collect();
                if self.snapshots.len() == SNAPSHOTS_KEPT {
                    self.snapshots.pop_front();
                }
                self.snapshots.push_back(Snapshot {
                    version: self.versions,
                    window,
                    rows,
                });
                self.snapshots.len() - 1
            }
        };
        Ok(position)
    }
}

/// An appointment as the listing and a read by id show it.
fn render(index: u32, slot: &Slot, viewed: &str) -> Value {
    let start = DateTime::from_timestamp(slot.start, 0).unwrap_or_default();
    let end = start + TimeDelta::minutes(i64::from(slot.minutes));
    json!({
        "id": id_of(index as usize),
        "patientId": format!("pat-{}", slot.patient + 1),
        "status": STATUSES[usize::from(slot.status)],
        "start": start.to_rfc3339_opts(SecondsFormat::Secs, true),
        "end": end.to_rfc3339_opts(SecondsFormat::Secs, true),
        "reminders": slot.reminders,
        "lastViewed": viewed,
    })
}

impl Schedule {
    fn insert(&mut self, start: i64, minutes: u16) -> usize {
        let index = self.slots.len();
        self.slots.push(Some(Slot {
            patient: self.rng.u32(..self.patients),
            status: 0,
            start,
            minutes,
            reminders: 0,
        }));
        self.order.insert((start, index as u32));
        index
    }

    /// Applies `change` to a live appointment, keeping the start index in step.
    fn update(&mut self, id: &str, change: impl FnOnce(&mut Slot)) -> bool {
        let Some(index) = self.live_index(id) else {
            return false;
        };
        let slot = self.slots[index].as_mut().expect("live");
        let before = slot.start;
        change(slot);
        let after = slot.start;
        if before != after {
            self.order.remove(&(before, index as u32));
            self.order.insert((after, index as u32));
        }
        true
    }

    fn next_status(&self, index: usize) -> u8 {
        let status = self.slots[index].map_or(0, |slot| slot.status);
        (status + 1) % CANCELLED
    }

    fn live_index(&self, id: &str) -> Option<usize> {
        parse_index(id, self.slots.len()).filter(|&i| self.slots[i].is_some())
    }
}

/// Reads a window bound: RFC 3339 (a `+` offset that form decoding turned into a space is
/// accepted) or `YYYY-MM-DD`, midnight UTC. Returns Unix seconds.
pub fn parse_time(text: &str) -> Option<i64> {
    let text = text.trim().replace(' ', "+");
    if let Ok(at) = DateTime::parse_from_rfc3339(&text) {
        return Some(at.timestamp());
    }
    let date = NaiveDate::parse_from_str(&text, "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp())
}

/// A place in the listing order: start (Unix seconds), then the appointment's index.
type Key = (i64, u32);

/// The listing order's range of starts in `[from, to)`.
fn bounds(from: Option<i64>, to: Option<i64>) -> (Bound<Key>, Bound<Key>) {
    (
        from.map_or(Bound::Unbounded, |from| Bound::Included((from, 0))),
        to.map_or(Bound::Unbounded, |to| Bound::Excluded((to, 0))),
    )
}

fn viewed(now: DateTime<Utc>) -> String {
    now.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn id_of(index: usize) -> String {
    format!("appt-{}", index + 1)
}

/// `appt-3` → index 2, if in range.
fn parse_index(id: &str, len: usize) -> Option<usize> {
    let number: usize = id.strip_prefix("appt-")?.parse().ok()?;
    (1..=len).contains(&number).then(|| number - 1)
}

mod churn;

#[cfg(test)]
#[path = "schedule_tests.rs"]
mod tests;
