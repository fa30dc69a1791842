//! Members running another configuration: their connections poll with other settings (other
//! intervals, destinations or enrichment) than the ones this instance would use, which an
//! operator must hear about once, not at every renewal. One definition of "another
//! configuration" for the log, `/status`, `courier status` and the metrics: a live member
//! whose configuration hash is not this instance's.

use std::collections::BTreeSet;

use super::{ClusterSnapshot, MemberView};
use crate::escape::escaped;

/// Hex digits of a configuration hash shown in a log line: enough to tell two apart.
const HASH_SHOWN: usize = 12;

/// The (member, hash) pairs already reported, kept by the caller across ticks.
pub type Reported = BTreeSet<(String, String)>;

/// Whether `member` runs another configuration than this instance (`snapshot`'s own hash).
pub fn differs(snapshot: &ClusterSnapshot, member: &MemberView) -> bool {
    member.config_hash != snapshot.config_hash
}

/// The live members running another configuration than this instance, in name order as the
/// snapshot lists them. A member that is gone polls nothing, so it is not counted.
pub fn mismatched(snapshot: &ClusterSnapshot) -> Vec<&MemberView> {
    snapshot
        .members
        .iter()
        .filter(|m| m.live && differs(snapshot, m))
        .collect()
}

/// Logs one WARN for every live member running another configuration, once per member and
/// hash: a member that changes its configuration again is reported again. Meant to be called
/// by the lease keeper after every renewal with the fresh snapshot; answers the lines it
/// logged (for tests, and so a caller may count them).
pub fn report(snapshot: &ClusterSnapshot, reported: &mut Reported) -> Vec<String> {
    let mut lines = Vec::new();
    for member in mismatched(snapshot) {
        let pair = (member.instance.clone(), member.config_hash.clone());
        if reported.contains(&pair) {
            continue;
        }
        let line = format!(
            "cluster: member {} runs another configuration (hash {}, this instance {}); \
             its connections poll with other settings",
            escaped(&member.instance),
            short(&member.config_hash),
            short(&snapshot.config_hash)
        );
        log::warn!("{line}");
        lines.push(line);
        reported.insert(pair);
    }
    lines
}

/// The first [`HASH_SHOWN`] characters of a hash, escaped (it comes from the database).
pub fn short(hash: &str) -> String {
    let shown: String = hash.chars().take(HASH_SHOWN).collect();
    escaped(shown).to_string()
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    fn member(instance: &str, hash: &str, live: bool) -> MemberView {
        MemberView {
            instance: instance.into(),
            started_at: Utc::now(),
            heartbeat_at: Utc::now(),
            live,
            config_hash: hash.into(),
            same_config: false,
            admin_url: None,
        }
    }

    fn cluster(members: Vec<MemberView>) -> ClusterSnapshot {
        ClusterSnapshot {
            instance: "node-1".into(),
            config_hash: "aaaaaaaaaaaaaaaaaaaa".into(),
            members,
            ..ClusterSnapshot::default()
        }
    }

    #[test]
    fn a_live_member_with_another_hash_is_reported_once_per_hash() {
        let mut reported = Reported::new();
        let mut snapshot = cluster(vec![
            member("node-1", "aaaaaaaaaaaaaaaaaaaa", true),
            member("node-2", "bbbbbbbbbbbbbbbbbbbb", true),
        ]);
        let lines = report(&snapshot, &mut reported);
        assert_eq!(
            lines,
            [
                "cluster: member node-2 runs another configuration (hash bbbbbbbbbbbb, \
              this instance aaaaaaaaaaaa); its connections poll with other settings"
            ]
        );
        assert!(report(&snapshot, &mut reported).is_empty(), "not twice");
        snapshot.members[1].config_hash = "cccccccccccccccccccc".into();
        let again = report(&snapshot, &mut reported);
        assert_eq!(again.len(), 1, "a new hash is news: {again:?}");
        assert!(again[0].contains("hash cccccccccccc"), "{again:?}");
    }

    #[test]
    fn members_that_are_gone_or_run_the_same_configuration_are_not_reported() {
        let mut reported = Reported::new();
        let snapshot = cluster(vec![
            member("node-1", "aaaaaaaaaaaaaaaaaaaa", true),
            member("node-2", "aaaaaaaaaaaaaaaaaaaa", true),
            member("node-3", "bbbbbbbbbbbbbbbbbbbb", false),
        ]);
        assert!(report(&snapshot, &mut reported).is_empty());
        assert!(mismatched(&snapshot).is_empty());
        assert!(differs(&snapshot, &snapshot.members[2]));
    }

    #[test]
    fn a_member_name_from_the_database_cannot_forge_log_lines() {
        let mut reported = Reported::new();
        let snapshot = cluster(vec![member("evil\nWARN forged", "bbbb", true)]);
        let lines = report(&snapshot, &mut reported);
        assert!(lines[0].contains("evil\\nWARN forged"), "{lines:?}");
        assert!(!lines[0].contains('\n'), "{lines:?}");
    }
}
