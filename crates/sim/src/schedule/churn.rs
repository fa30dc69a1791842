//! Changes the schedule makes in bulk or at random: the benchmark's window of 100,000
//! appointments and its 1% of changes per poll, and the demo's steady stream of every kind.

use chrono::{DateTime, Duration as TimeDelta, Utc};

use super::{id_of, Schedule, GRID_SECS};

impl Schedule {
    /// Adds `count` booked appointments with starts spread over `[from, to)` on a 5-minute grid.
    pub fn generate(&mut self, count: usize, from: DateTime<Utc>, to: DateTime<Utc>) {
        let first = from.timestamp().div_euclid(GRID_SECS) + 1;
        let cells = ((to.timestamp() - 1).div_euclid(GRID_SECS) - first + 1).max(1);
        self.slots.reserve(count);
        for _ in 0..count {
            let start = (first + self.rng.i64(0..cells)) * GRID_SECS;
            let minutes = 15 * self.rng.u16(1..=4);
            self.insert(start, minutes);
        }
    }

    /// Changes `percent`% of the live appointments (at least one, if any): half a new status,
    /// half a new start (30 minutes to a day later or earlier). Returns how many changed, which
    /// may be a few fewer when one is picked twice.
    pub fn change_percent(&mut self, percent: f64) -> usize {
        let live: Vec<u32> = self.order.iter().map(|&(_, index)| index).collect();
        if live.is_empty() {
            return 0;
        }
        let wanted = ((live.len() as f64 * percent / 100.0).round() as usize).max(1);
        let mut picked: Vec<u32> = (0..wanted)
            .map(|_| live[self.rng.usize(..live.len())])
            .collect();
        picked.sort_unstable();
        picked.dedup();
        for &index in &picked {
            let id = id_of(index as usize);
            if self.rng.bool() {
                let status = self.next_status(index as usize);
                self.update(&id, |slot| slot.status = status);
            } else {
                let delta = self.rng.i64(1..=48) * 1800 * if self.rng.bool() { 1 } else { -1 };
                self.update(&id, |slot| slot.start += delta);
            }
        }
        picked.len()
    }

    /// One random change of each kind in turn over time, for `courier demo`: a new appointment
    /// within a week of `now`, a reschedule, a cancellation or a deletion. Returns its kind.
    pub fn change_random(&mut self, now: DateTime<Utc>) -> &'static str {
        let live: Vec<u32> = self.order.iter().map(|&(_, index)| index).collect();
        let kind = if live.len() < 2 { 0 } else { self.rng.u8(0..4) };
        let id = live
            .get(self.rng.usize(..live.len().max(1)))
            .map(|&index| id_of(index as usize));
        match (kind, id) {
            (1, Some(id)) => {
                let delta = self.rng.i64(1..=8) * 1800;
                self.update(&id, |slot| slot.start += delta);
                "rescheduled"
            }
            (2, Some(id)) => {
                self.set_status(&id, "cancelled");
                "cancelled"
            }
            (3, Some(id)) => {
                self.delete(&id);
                "deleted"
            }
            _ => {
                let start = now + TimeDelta::seconds(self.rng.i64(1..7 * 24 * 12) * GRID_SECS);
                self.add(start, 30);
                "created"
            }
        }
    }
}
