//! Deliveries per minute as a few time buckets: a constant 200 bytes per connection or
//! destination however fast it delivers, where a list of timestamps would grow with the rate.

use chrono::{DateTime, Utc};

/// Width of one bucket: the rate is exact to within one bucket at the window's old end.
const BUCKET_SECS: i64 = 5;
/// Buckets in the window: 12 × 5 s = one minute.
const BUCKETS: usize = 12;

/// Counts events in the last minute, bucketed by the time they carry.
#[derive(Debug, Clone, Default)]
pub struct Rate {
    /// Per bucket: the bucket's number (seconds since the epoch / [`BUCKET_SECS`]) and its
    /// count. A bucket whose number is not the one `at` falls into is stale and starts over.
    buckets: [(i64, u32); BUCKETS],
}

impl Rate {
    /// Counts one event at `at`.
    pub fn add(&mut self, at: DateTime<Utc>) {
        let number = at.timestamp().div_euclid(BUCKET_SECS);
        let bucket = &mut self.buckets[number.rem_euclid(BUCKETS as i64) as usize];
        if bucket.0 != number {
            *bucket = (number, 0);
        }
        bucket.1 = bucket.1.saturating_add(1);
    }

    /// Events in the minute before `now` (the current bucket and the eleven before it).
    pub fn per_min(&self, now: DateTime<Utc>) -> u64 {
        let current = now.timestamp().div_euclid(BUCKET_SECS);
        let oldest = current - BUCKETS as i64 + 1;
        self.buckets
            .iter()
            .filter(|(number, _)| (oldest..=current).contains(number))
            .map(|(_, count)| u64::from(*count))
            .sum()
    }
}
