//! The `cluster` object of `GET /status` on a clustered instance: who this instance is, the
//! members with their heartbeats, every connection's owner and lease expiry, this instance's
//! lease counters, and the members running another configuration. Ages and remaining times
//! are computed here, with one clock, so a reader on another machine need not trust its own.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::cluster::mismatch::{differs, mismatched};
use crate::cluster::ClusterSnapshot;

/// `snapshot` as the `cluster` object of `/status`, at `now`.
pub fn cluster_json(snapshot: &ClusterSnapshot, now: DateTime<Utc>) -> Value {
    let members: Vec<Value> = snapshot
        .members
        .iter()
        .map(|m| {
            json!({
                "instance": m.instance,
                "started_at": m.started_at,
                "heartbeat_at": m.heartbeat_at,
                "heartbeat_age_secs": seconds(now - m.heartbeat_at),
                "live": m.live,
                "config_hash": m.config_hash,
                "same_config": !differs(snapshot, m),
                "admin_url": m.admin_url,
            })
        })
        .collect();
    let leases: Vec<Value> = snapshot
        .leases
        .iter()
        .map(|l| {
            json!({
                "connection": l.connection,
                "owner": l.owner,
                "here": l.owner.as_deref() == Some(snapshot.instance.as_str()),
                "epoch": l.epoch,
                "expires_at": l.expires_at,
                "expires_in_secs": seconds(l.expires_at - now),
            })
        })
        .collect();
    let mismatch: Vec<&str> = mismatched(snapshot)
        .iter()
        .map(|m| m.instance.as_str())
        .collect();
    json!({
        "instance": snapshot.instance,
        "config_hash": snapshot.config_hash,
        "renewed_at": snapshot.renewed_at,
        "last_error": snapshot.last_error,
        "counters": {
            "leases_held": snapshot.leases_held,
            "lease_losses": snapshot.lease_losses,
            "takeovers": snapshot.takeovers,
        },
        "members": members,
        "leases": leases,
        "config_mismatch": mismatch,
    })
}

/// Seconds to a tenth, negative for the past (a lease that lapsed).
fn seconds(duration: chrono::Duration) -> f64 {
    (duration.num_milliseconds() as f64 / 100.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::cluster::{LeaseView, MemberView};

    fn member(instance: &str, hash: &str, heartbeat_at: DateTime<Utc>) -> MemberView {
        MemberView {
            instance: instance.into(),
            started_at: heartbeat_at - Duration::minutes(5),
            heartbeat_at,
            live: true,
            config_hash: hash.into(),
            same_config: true,
            admin_url: Some(format!("http://{instance}:9464")),
        }
    }

    #[test]
    fn the_cluster_object_shows_members_owners_expiries_counters_and_mismatches() {
        let now = Utc::now();
        let snapshot = ClusterSnapshot {
            instance: "node-1".into(),
            config_hash: "aaaa".into(),
            members: vec![
                member("node-1", "aaaa", now - Duration::seconds(1)),
                member("node-2", "bbbb", now - Duration::milliseconds(2500)),
            ],
            leases: vec![
                LeaseView {
                    connection: "clinic-a".into(),
                    owner: Some("node-1".into()),
                    epoch: 3,
                    expires_at: now + Duration::seconds(7),
                },
                LeaseView {
                    connection: "clinic-b".into(),
                    owner: None,
                    epoch: 5,
                    expires_at: now - Duration::seconds(2),
                },
            ],
            leases_held: 1,
            lease_losses: 2,
            takeovers: 4,
            last_error: None,
            renewed_at: Some(now),
        };
        let json = cluster_json(&snapshot, now);
        assert_eq!(json["instance"], "node-1");
        assert_eq!(
            json["counters"],
            json!({"leases_held": 1, "lease_losses": 2, "takeovers": 4})
        );
        assert_eq!(json["last_error"], Value::Null);
        assert_eq!(json["config_mismatch"], json!(["node-2"]));
        let second = &json["members"][1];
        assert_eq!(second["same_config"], false, "{second}");
        assert_eq!(second["heartbeat_age_secs"], 2.5, "{second}");
        assert_eq!(second["admin_url"], "http://node-2:9464");
        assert_eq!(json["members"][0]["same_config"], true);
        let (held, free) = (&json["leases"][0], &json["leases"][1]);
        assert_eq!(held["owner"], "node-1");
        assert_eq!(held["here"], true);
        assert_eq!(held["epoch"], 3);
        assert_eq!(held["expires_in_secs"], 7.0);
        assert_eq!(free["owner"], Value::Null);
        assert_eq!(free["here"], false);
        assert_eq!(free["expires_in_secs"], -2.0);
    }
}
