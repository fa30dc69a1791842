//! The admin API of a clustered instance, with a cluster view made by hand as the lease
//! keeper would fill it: `/status` carries the cluster, `/metrics` its series, and `/readyz`
//! refuses an instance whose leases were not renewed within a lease. A sled instance (no
//! cluster) shows none of it.

use actix_web::http::StatusCode;
use chrono::{Duration, Utc};
use courier::cluster::{ClusterBoard, LeaseView, MemberView};
use courier_sim::SimEhrOptions;
use serde_json::json;

use crate::support::admin::{get, start_admin, start_admin_in_cluster};
use crate::support::app::{eventually, spawn_app, PATIENCE};

/// Three members (node-2 on another configuration, node-3 gone) and two leases: clinic-a
/// held here, clinic-b by node-2; renewed `renewed_secs_ago` seconds ago.
fn board(renewed_secs_ago: i64) -> ClusterBoard {
    let board = ClusterBoard::new("node-1", "hash-one");
    let now = Utc::now();
    let member = |instance: &str, hash: &str, live: bool| MemberView {
        instance: instance.into(),
        started_at: now - Duration::minutes(10),
        heartbeat_at: now - Duration::seconds(if live { 1 } else { 60 }),
        live,
        config_hash: hash.into(),
        same_config: hash == "hash-one",
        admin_url: Some(format!("http://{instance}:9464")),
    };
    let lease = |connection: &str, owner: &str, epoch| LeaseView {
        connection: connection.into(),
        owner: Some(owner.into()),
        epoch,
        expires_at: now + Duration::seconds(8),
    };
    board.update(|s| {
        s.members = vec![
            member("node-1", "hash-one", true),
            member("node-2", "hash-two", true),
            member("node-3", "hash-one", false),
        ];
        s.leases = vec![
            lease("clinic-a", "node-1", 2),
            lease("clinic-b", "node-2", 7),
        ];
        s.leases_held = 1;
        s.lease_losses = 1;
        s.takeovers = 3;
        s.renewed_at = Some(now - Duration::seconds(renewed_secs_ago));
    });
    board
}

fn quiet() -> SimEhrOptions {
    SimEhrOptions {
        initial_changes: 0,
        ..SimEhrOptions::default()
    }
}

#[actix_rt::test]
async fn a_clustered_instance_shows_the_cluster_in_status_and_metrics() {
    let test = spawn_app(quiet(), |c| c).await;
    let admin = start_admin_in_cluster(&test, None, Some(board(1)));
    let status = get(&admin.url(), "/status").await;
    assert_eq!(status.status, StatusCode::OK, "{}", status.text);
    let status = status.json();
    assert!(
        status["connections"]["clinic-a"].is_object(),
        "its own work"
    );
    let cluster = &status["cluster"];
    assert_eq!(cluster["instance"], "node-1");
    assert_eq!(cluster["config_mismatch"], json!(["node-2"]));
    assert_eq!(
        cluster["counters"],
        json!({"leases_held": 1, "lease_losses": 1, "takeovers": 3})
    );
    let members: Vec<_> = cluster["members"].as_array().unwrap().iter().collect();
    assert_eq!(members.len(), 3);
    assert_eq!(members[1]["same_config"], false);
    assert_eq!(members[2]["live"], false);
    let clinic_b = &cluster["leases"][1];
    assert_eq!(clinic_b["owner"], "node-2");
    assert_eq!(clinic_b["here"], false);
    let expires_in = clinic_b["expires_in_secs"].as_f64().unwrap();
    assert!((0.0..=8.0).contains(&expires_in), "{clinic_b}");

    let metrics = get(&admin.url(), "/metrics").await.text;
    for line in [
        "courier_cluster_leases_held 1",
        "courier_cluster_lease_losses_total 1",
        "courier_cluster_takeovers_total 3",
        "courier_cluster_members{state=\"live\"} 2",
        "courier_cluster_members{state=\"gone\"} 1",
        "courier_cluster_config_mismatch 1",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "no {line:?} in {metrics}"
        );
    }

    let sled = start_admin(&test, None);
    let plain = get(&sled.url(), "/status").await.json();
    assert!(plain.get("cluster").is_none(), "{plain}");
    let metrics = get(&sled.url(), "/metrics").await.text;
    assert!(!metrics.contains("courier_cluster"), "{metrics}");
}

#[actix_rt::test]
async fn readyz_refuses_an_instance_whose_leases_are_stale_or_failing() {
    let test = spawn_app(quiet(), |c| c).await;
    eventually("the first poll", PATIENCE, || {
        test.connection("clinic-a").polls_ok > 0
    })
    .await;
    let fresh = start_admin_in_cluster(&test, None, Some(board(1)));
    let ready = get(&fresh.url(), "/readyz").await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.text);

    // The test's configuration keeps the default lease, 10 s.
    let stale = start_admin_in_cluster(&test, None, Some(board(30)));
    let refused = get(&stale.url(), "/readyz").await;
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
    let reasons = refused.json()["reasons"].clone();
    let reason = reasons[0].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("cluster: leases last renewed 3")
            && reason.ends_with("s ago, longer than a lease (10s)"),
        "{reasons}"
    );
    assert_eq!(reasons.as_array().map(Vec::len), Some(1), "{reasons}");

    let failing = board(1);
    failing.update(|s| s.last_error = Some("store: database: connection refused".into()));
    let failing = start_admin_in_cluster(&test, None, Some(failing));
    let refused = get(&failing.url(), "/readyz").await;
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        refused.json()["reasons"],
        json!(["cluster: the last lease renewal failed: store: database: connection refused"])
    );
}
