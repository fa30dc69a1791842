//! Whether a clustered instance is ready, as far as its leases go: one whose last renewal
//! failed, or whose leases were last renewed longer ago than a lease lasts, may already have
//! lost its connections to another instance (or will at any moment), so a load balancer or a
//! supervisor must not count it as serving its share.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::ClusterSnapshot;

/// Why the instance of `snapshot` is not ready, given leases of `lease` and the time `now`;
/// `None` while its last renewal succeeded within a lease.
pub fn unready(snapshot: &ClusterSnapshot, lease: Duration, now: DateTime<Utc>) -> Option<String> {
    if let Some(error) = &snapshot.last_error {
        return Some(format!("cluster: the last lease renewal failed: {error}"));
    }
    let Some(renewed_at) = snapshot.renewed_at else {
        return Some("cluster: leases not renewed yet".into());
    };
    let age = (now - renewed_at).to_std().unwrap_or_default();
    (age > lease).then(|| {
        format!(
            "cluster: leases last renewed {}s ago, longer than a lease ({}s)",
            age.as_secs(),
            lease.as_secs()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEASE: Duration = Duration::from_secs(10);

    fn renewed(secs_ago: i64, now: DateTime<Utc>) -> ClusterSnapshot {
        ClusterSnapshot {
            renewed_at: Some(now - chrono::Duration::seconds(secs_ago)),
            ..ClusterSnapshot::default()
        }
    }

    #[test]
    fn a_renewal_within_the_lease_is_ready_and_an_older_one_is_not() {
        let now = Utc::now();
        assert_eq!(unready(&renewed(3, now), LEASE, now), None);
        assert_eq!(
            unready(&renewed(14, now), LEASE, now).as_deref(),
            Some("cluster: leases last renewed 14s ago, longer than a lease (10s)")
        );
    }

    #[test]
    fn a_failed_renewal_or_none_yet_is_not_ready() {
        let now = Utc::now();
        let mut failed = renewed(1, now);
        failed.last_error = Some("store: database: connection refused".into());
        assert_eq!(
            unready(&failed, LEASE, now).as_deref(),
            Some("cluster: the last lease renewal failed: store: database: connection refused")
        );
        assert_eq!(
            unready(&ClusterSnapshot::default(), LEASE, now).as_deref(),
            Some("cluster: leases not renewed yet")
        );
    }

    #[test]
    fn a_renewal_stamped_slightly_ahead_of_this_clock_is_fresh() {
        let now = Utc::now();
        assert_eq!(unready(&renewed(-2, now), LEASE, now), None);
    }
}
