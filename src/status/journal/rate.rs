//! Deliveries per minute as a few time buckets: a constant 96 bytes per connection or
//! destination however fast it delivers, where a list of timestamps would grow with the rate.

use chrono::{DateTime, Utc};

/// Width of one bucket: the rate is exact to within one bucket at the window's old end.
const BUCKET_SECS: i64 = 5;
/// Buckets in the window: 12 × 5 s = one minute.
const BUCKETS: usize = 12;

/// Counts events in the last minute, bucketed by the time they carry.
#[derive(Debug, Clone, Default)]
pub struct Rate {
    /// Per bucket: the bucket's number (seconds since the epoch / [`BUCKET_SECS`], which
    /// fits 32 bits until the year 2650) and its count. A bucket whose number is not the one
    /// `at` falls into is stale and starts over.
    buckets: [(u32, u32); BUCKETS],
}

impl Rate {
    /// Counts one event at `at`.
    pub fn add(&mut self, at: DateTime<Utc>) {
        let number = bucket_number(at);
        let bucket = &mut self.buckets[number as usize % BUCKETS];
        if bucket.0 != number {
            *bucket = (number, 0);
        }
        bucket.1 = bucket.1.saturating_add(1);
    }

    /// Events in the minute before `now` (the current bucket and the eleven before it).
    pub fn per_min(&self, now: DateTime<Utc>) -> u64 {
        let current = bucket_number(now);
        let oldest = current.saturating_sub(BUCKETS as u32 - 1);
        self.buckets
            .iter()
            .filter(|(number, _)| (oldest..=current).contains(number))
            .map(|(_, count)| u64::from(*count))
            .sum()
    }
}

/// The bucket `at` falls into (0 before 1970, which no clock of Courier's shows).
fn bucket_number(at: DateTime<Utc>) -> u32 {
    u32::try_from(at.timestamp().div_euclid(BUCKET_SECS).max(0)).unwrap_or(u32::MAX)
}
