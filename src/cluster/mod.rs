//! The cluster: instances sharing one PostgreSQL store divide the connections between them.
//! Each instance is a row in `members` with a heartbeat; each connection is owned through a
//! row in `leases` (owner, epoch, expiry), renewed every third of `lease_secs`. Only the
//! database coordinates: no instance talks to another.

pub mod board;
pub mod mismatch;
pub mod readiness;

pub use board::{ClusterBoard, ClusterSnapshot, LeaseView, MemberView};
