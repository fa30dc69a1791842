//! The cluster: instances sharing one PostgreSQL store divide the connections between them.
//! Each instance is a row in `members` with a heartbeat ([`members`]); each connection is
//! owned through a row in `leases` (owner, epoch, expiry; [`leases`]), renewed every third of
//! `lease_secs` by the [`keeper`]. Which leases an instance takes or hands back is a pure
//! function ([`balance`]). Only the database coordinates: no instance talks to another.

pub mod balance;
pub mod board;
pub mod hash;
pub mod keeper;
pub mod keeping;
pub mod leases;
pub mod members;
pub mod mismatch;
pub mod readiness;
mod sql;

pub use board::{ClusterBoard, ClusterSnapshot, LeaseView, MemberView};
pub use hash::config_hash;
pub use keeper::LeaseKeeper;
pub use members::{JoinError, Membership};

use std::sync::Arc;

use crate::store::postgres::PgStore;

/// What a clustered instance brings to its app: the store's concrete handle (for the
/// fences), its membership (registered already), and the board the keeper fills.
#[derive(Clone)]
pub struct Cluster {
    /// The PostgreSQL store behind the app's [`crate::store::Store`].
    pub pg: Arc<PgStore>,
    /// This instance's members row.
    pub membership: Membership,
    /// What `/status` and the metrics show of the cluster.
    pub board: ClusterBoard,
}

#[cfg(test)]
mod tests;
