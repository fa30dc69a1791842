//! The cluster series of a clustered instance: its own lease counters (per instance, as every
//! other series here), the members live and gone as it sees them, and how many live members
//! run another configuration, so an alert can fire on `courier_cluster_config_mismatch > 0`.

use super::Exposition;
use crate::cluster::mismatch::mismatched;
use crate::cluster::ClusterSnapshot;

/// A family read from the snapshot alone: name, type, help, reader.
type ClusterFamily = (
    &'static str,
    &'static str,
    &'static str,
    fn(&ClusterSnapshot) -> u64,
);

/// Families with one unlabelled sample each.
const FAMILIES: [ClusterFamily; 4] = [
    (
        "courier_cluster_leases_held",
        "gauge",
        "Connection leases this instance holds (the connections it runs).",
        |s| s.leases_held,
    ),
    (
        "courier_cluster_lease_losses_total",
        "counter",
        "Leases this instance lost: not renewed in time, or taken by another instance.",
        |s| s.lease_losses,
    ),
    (
        "courier_cluster_takeovers_total",
        "counter",
        "Leases this instance took over from an instance whose lease had lapsed.",
        |s| s.takeovers,
    ),
    (
        "courier_cluster_config_mismatch",
        "gauge",
        "Live members whose configuration hash differs from this instance's.",
        |s| mismatched(s).len() as u64,
    ),
];

/// Writes the cluster families.
pub(super) fn metrics(out: &mut Exposition, snapshot: &ClusterSnapshot) {
    for (name, kind, help, value) in FAMILIES {
        out.family(name, kind, help);
        out.sample(name, &[], value(snapshot) as f64);
    }
    let name = "courier_cluster_members";
    out.family(
        name,
        "gauge",
        "Registered instances by state: live (heartbeat within a lease) or gone.",
    );
    let live = snapshot.members.iter().filter(|m| m.live).count();
    let gone = snapshot.members.len() - live;
    out.sample(name, &[("state", "live")], live as f64);
    out.sample(name, &[("state", "gone")], gone as f64);
}
