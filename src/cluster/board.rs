//! What the cluster looks like from this instance, for `/status`, `courier status` and the
//! metrics: refreshed by the lease keeper at every renewal, read by the admin API.

use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use serde::Serialize;

/// One instance of the cluster, as its members row says.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MemberView {
    /// Its name (`courier run --instance`).
    pub instance: String,
    /// When it registered.
    pub started_at: DateTime<Utc>,
    /// Its last heartbeat, by the database's clock.
    pub heartbeat_at: DateTime<Utc>,
    /// Whether its heartbeat is recent enough (within `lease_secs`) to count it live.
    pub live: bool,
    /// The hash of its configuration.
    pub config_hash: String,
    /// Whether that hash is this instance's: a member running another configuration polls
    /// with other settings, which an operator must know.
    pub same_config: bool,
    /// Where its admin API listens, when it has one.
    pub admin_url: Option<String>,
}

/// One connection's lease.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeaseView {
    /// The connection.
    pub connection: String,
    /// The instance holding it; `None` once handed back.
    pub owner: Option<String>,
    /// Bumped by every change of owner: the fencing token.
    pub epoch: i64,
    /// When it lapses unless renewed.
    pub expires_at: DateTime<Utc>,
}

/// The cluster as this instance last read it, with its own lease counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ClusterSnapshot {
    /// This instance's name.
    pub instance: String,
    /// This instance's configuration hash.
    pub config_hash: String,
    /// Every registered instance, live or not.
    pub members: Vec<MemberView>,
    /// Every connection's lease.
    pub leases: Vec<LeaseView>,
    /// Leases this instance holds now.
    pub leases_held: u64,
    /// Leases this instance lost (not renewed in time, or taken by another instance).
    pub lease_losses: u64,
    /// Leases this instance took over from another instance whose lease had lapsed.
    pub takeovers: u64,
    /// The last failure to reach the database for leases, if the last attempt failed.
    pub last_error: Option<String>,
    /// When the leases were last renewed.
    pub renewed_at: Option<DateTime<Utc>>,
}

/// The shared, live view; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct ClusterBoard {
    inner: Arc<Mutex<ClusterSnapshot>>,
}

impl ClusterBoard {
    /// A board for instance `instance` running configuration `config_hash`.
    pub fn new(instance: &str, config_hash: &str) -> Self {
        let board = Self::default();
        board.update(|s| {
            s.instance = instance.to_owned();
            s.config_hash = config_hash.to_owned();
        });
        board
    }

    /// Changes the view.
    pub fn update<T>(&self, change: impl FnOnce(&mut ClusterSnapshot) -> T) -> T {
        change(&mut self.inner.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// A copy of the view.
    pub fn snapshot(&self) -> ClusterSnapshot {
        self.update(|s| s.clone())
    }
}
