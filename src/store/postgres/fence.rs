//! Fencing: which connections this instance may write, under which lease epoch. Every write of
//! a connection's state checks, in its own transaction, that the lease row still names this
//! instance, the same epoch, and has not expired ([`check`]). The check reads the row
//! `FOR SHARE`: a takeover's `UPDATE` of that row waits for the write to commit, and a write
//! after the takeover finds the new epoch and writes nothing. So an instance that was paused
//! or cut off past its lease can never write again for that connection.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use tokio_postgres::GenericClient;

use super::db::db_error;
use crate::store::StoreError;

/// The lease this instance holds on one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    /// This instance's name (the lease row's `owner`).
    pub owner: Arc<str>,
    /// The lease's epoch when it was taken; bumped by every takeover.
    pub epoch: i64,
}

/// Whether writes are fenced by leases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FencePolicy {
    /// Every write of a connection's state needs this instance's lease on it (`courier run`).
    Leases,
    /// No leases: one writer by construction (`courier store copy`, the store's own tests).
    SingleWriter,
}

/// The leases this instance holds, shared by the store (which checks them) and the cluster
/// (which takes and drops them).
#[derive(Debug, Clone)]
pub struct Fences {
    policy: FencePolicy,
    held: Arc<RwLock<HashMap<String, Fence>>>,
}

impl Fences {
    /// No leases held yet.
    pub fn new(policy: FencePolicy) -> Self {
        Self {
            policy,
            held: Arc::default(),
        }
    }

    /// The lease to check before writing `connection`; [`StoreError::Fenced`] when this
    /// instance holds none (never took it, or lost it).
    pub fn for_write(&self, connection: &str) -> Result<Option<Fence>, StoreError> {
        if self.policy == FencePolicy::SingleWriter {
            return Ok(None);
        }
        let held = self.held.read().unwrap_or_else(|p| p.into_inner());
        match held.get(connection) {
            Some(fence) => Ok(Some(fence.clone())),
            None => Err(StoreError::Fenced(connection.to_owned())),
        }
    }

    /// Writes to `connection` are allowed under `fence` from now on.
    pub fn grant(&self, connection: &str, fence: Fence) {
        let mut held = self.held.write().unwrap_or_else(|p| p.into_inner());
        held.insert(connection.to_owned(), fence);
    }

    /// No more writes to `connection` from this instance, at once.
    pub fn revoke(&self, connection: &str) -> Option<Fence> {
        let mut held = self.held.write().unwrap_or_else(|p| p.into_inner());
        held.remove(connection)
    }

    /// The connections this instance may write now.
    pub fn held(&self) -> Vec<String> {
        let held = self.held.read().unwrap_or_else(|p| p.into_inner());
        held.keys().cloned().collect()
    }
}

/// Checks, inside the caller's transaction, that `fence` still holds `connection`'s lease;
/// [`StoreError::Fenced`] otherwise (the caller rolls back). `None` (no fencing) passes.
pub async fn check(
    tx: &impl GenericClient,
    connection: &str,
    fence: Option<&Fence>,
) -> Result<(), StoreError> {
    let Some(fence) = fence else {
        return Ok(());
    };
    let row = tx
        .query_opt(
            "SELECT 1 FROM leases WHERE connection = $1 AND owner = $2 AND epoch = $3 \
             AND expires_at > now() FOR SHARE",
            &[&connection, &&*fence.owner, &fence.epoch],
        )
        .await
        .map_err(|e| db_error("checking the lease", e))?;
    match row {
        Some(_) => Ok(()),
        None => Err(StoreError::Fenced(connection.to_owned())),
    }
}
