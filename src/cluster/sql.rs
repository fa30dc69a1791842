//! How the cluster's statements read times and pass durations without a date-time type in
//! the driver: a time travels as microseconds since the epoch (exact: `timestamptz` keeps
//! microseconds), a duration as milliseconds multiplied into an `interval` by the statement.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// The SQL reading `column` (a `timestamptz`) as microseconds since the epoch.
pub fn micros(column: &str) -> String {
    format!("(extract(epoch FROM {column}) * 1000000)::bigint")
}

/// The time of microseconds since the epoch read by [`micros`].
pub fn time_of(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or_default()
}

/// A lease as the milliseconds a statement multiplies by `interval '1 millisecond'`.
pub fn lease_ms(lease: Duration) -> i64 {
    i64::try_from(lease.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_comes_back_to_the_microsecond() {
        let at = time_of(1_765_000_000_123_456);
        assert_eq!(at.timestamp_micros(), 1_765_000_000_123_456);
        assert_eq!(lease_ms(Duration::from_secs(3)), 3000);
        assert!(micros("expires_at").contains("expires_at"));
    }
}
