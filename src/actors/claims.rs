//! Which containers of a connection are being worked on in memory, so that dispatching from
//! the store (at start and after a restart) never hands out one that is already in flight.
//!
//! A claim made by an enricher belongs to that enricher's *generation*: when the connection
//! restarts, its enricher's work is cancelled, so claims of older generations still at the
//! enriching stage count as free. Claims that reached delivery stay taken until delivery ends.
//!
//! The claims also note when the connection's last notification was delivered, which is
//! what decides whether a heartbeat is due: a delivery ends with its claim.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Enriching { generation: u64 },
    Delivering,
}

#[derive(Debug)]
struct Entry {
    token: u64,
    stage: Stage,
}

/// One connection's claims; shared by its actors across restarts.
#[derive(Debug, Default)]
pub struct Claims {
    entries: Mutex<HashMap<u64, Entry>>,
    next_token: AtomicU64,
    /// Unix milliseconds of the last 2xx for one of the connection's notifications; 0 for
    /// none since the process started.
    last_delivered_ms: AtomicI64,
}

/// A held claim on one container; released when dropped, however the work ends.
#[derive(Debug)]
pub struct Claim {
    claims: Arc<Claims>,
    sequence: u64,
    token: u64,
}

impl Claims {
    /// Claims container `sequence` for enrichment by `generation`, unless it is in flight.
    pub fn try_claim(self: &Arc<Self>, sequence: u64, generation: u64) -> Option<Claim> {
        let mut entries = self.lock();
        if let Some(entry) = entries.get(&sequence) {
            let stale = matches!(entry.stage, Stage::Enriching { generation: g } if g < generation);
            if !stale {
                return None;
            }
        }
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        let stage = Stage::Enriching { generation };
        entries.insert(sequence, Entry { token, stage });
        Some(Claim {
            claims: Arc::clone(self),
            sequence,
            token,
        })
    }

    /// When a notification of this connection was last delivered (2xx), if one was since
    /// the process started.
    pub fn last_delivered(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        match self.last_delivered_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => chrono::DateTime::from_timestamp_millis(ms),
        }
    }

    /// Containers currently claimed.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing is claimed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Claim {
    /// The container has been handed to delivery: a connection restart no longer frees it.
    pub fn delivering(&self) {
        if let Some(entry) = self.claims.lock().get_mut(&self.sequence) {
            if entry.token == self.token {
                entry.stage = Stage::Delivering;
            }
        }
    }

    /// The claimed container's notification was delivered (2xx): notes the time.
    pub fn delivered(&self) {
        let now = chrono::Utc::now().timestamp_millis();
        self.claims
            .last_delivered_ms
            .fetch_max(now, Ordering::Relaxed);
    }

    /// The claimed container's sequence number.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut entries = self.claims.lock();
        if entries
            .get(&self.sequence)
            .is_some_and(|e| e.token == self.token)
        {
            entries.remove(&self.sequence);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claimed_container_cannot_be_claimed_again_until_released() {
        let claims = Arc::new(Claims::default());
        let claim = claims.try_claim(7, 1).unwrap();
        assert!(claims.try_claim(7, 1).is_none());
        drop(claim);
        assert!(claims.try_claim(7, 1).is_some());
    }

    #[test]
    fn a_delivered_claim_notes_the_time_of_delivery() {
        let claims = Arc::new(Claims::default());
        assert_eq!(claims.last_delivered(), None);
        let before = chrono::Utc::now() - chrono::Duration::milliseconds(1);
        claims.try_claim(3, 1).unwrap().delivered();
        let at = claims.last_delivered().expect("a delivery was noted");
        assert!(at >= before && at <= chrono::Utc::now());
        assert!(claims.is_empty(), "the claim itself is released as usual");
    }

    #[test]
    fn a_restart_frees_enrichment_claims_of_older_generations_only() {
        let claims = Arc::new(Claims::default());
        let enriching = claims.try_claim(1, 1).unwrap();
        let delivering = claims.try_claim(2, 1).unwrap();
        delivering.delivering();
        let taken_over = claims
            .try_claim(1, 2)
            .expect("older generation's enrichment is void");
        assert!(
            claims.try_claim(2, 2).is_none(),
            "delivery survives the restart"
        );
        // The old claim's late drop must not release the new owner's claim.
        drop(enriching);
        assert!(claims.try_claim(1, 2).is_none());
        drop(taken_over);
        assert_eq!(claims.len(), 1, "only the delivering claim is left");
    }
}
