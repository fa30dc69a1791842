//! A cluster of real `courier run` processes on one PostgreSQL database (lease 3 s): the
//! connections are shared out evenly, a killed instance's connections are taken over with
//! their backlog, a paused instance cannot write once continued, and instances joining and
//! leaving move only what they must. Every change is delivered; a duplicate only ever carries
//! its original id and sequence.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::support::cluster::{wait_for, ClusterRig, CLUSTER_PATIENCE, LEASE_SECS};
use crate::support::process::backlog;

fn shares(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs
        .iter()
        .map(|(name, n)| (name.to_string(), *n))
        .collect()
}

/// The connections `owner` holds now.
fn held_by(rig: &ClusterRig, owner: &str) -> Vec<String> {
    let holders = rig.holders().into_iter();
    holders
        .filter(|(_, o)| o == owner)
        .map(|(c, _)| c)
        .collect()
}

#[actix_rt::test]
async fn two_instances_share_four_connections_two_each_and_deliver_every_change() {
    let mut rig = ClusterRig::new("share", 4, 20);
    let _a = rig.start("a");
    let _b = rig.start("b");
    wait_for("two connections each", CLUSTER_PATIENCE, || {
        rig.shares() == shares(&[("a", 2), ("b", 2)])
    })
    .await;
    rig.changes_delivered(5).await;
    for name in ["a", "b"] {
        let log = rig.log_of(name);
        assert!(
            log.contains(&format!("cluster: instance {name} joined")),
            "{log}"
        );
        assert!(log.contains("took lease of conn="), "{log}");
    }
}

#[actix_rt::test]
async fn a_killed_instances_connections_are_taken_over_with_their_backlog() {
    let mut rig = ClusterRig::new("kill", 4, 0);
    let a = rig.start("a");
    let _b = rig.start("b");
    wait_for("two connections each", CLUSTER_PATIENCE, || {
        rig.shares() == shares(&[("a", 2), ("b", 2)])
    })
    .await;
    // A backlog that takes a while to deliver: a slow EHR enriches each container slowly.
    for ehr in &rig.ehrs {
        ehr.set_latency(Duration::from_millis(30));
        for _ in 0..300 {
            ehr.touch_random();
        }
    }
    let of_a = held_by(&rig, "a").join("','");
    let pending = format!("SELECT count(*) FROM courier.pending WHERE connection IN ('{of_a}')");
    wait_for(
        "a backlog pending on a's connections",
        CLUSTER_PATIENCE,
        || rig.query(&pending).trim().parse::<u64>().unwrap() > 20,
    )
    .await;
    let killed = Instant::now();
    a.kill();
    wait_for("b holds every connection", CLUSTER_PATIENCE, || {
        rig.shares() == shares(&[("b", 4)])
    })
    .await;
    let took_over = killed.elapsed();
    // Lapsed after at most a lease, taken at b's next tick (a third of it), with room for
    // the test's own look every 100 ms.
    assert!(
        took_over < Duration::from_secs(LEASE_SECS + 2),
        "took {took_over:?} to take over"
    );
    rig.changes_delivered(3).await;
    let log = rig.log_of("b");
    assert!(log.contains(", from a)"), "b logged its takeovers:\n{log}");
}

#[actix_rt::test]
async fn an_instance_paused_past_its_lease_never_writes_again_once_continued() {
    let mut rig = ClusterRig::new("fence", 2, 10);
    let a = rig.start("a");
    let _b = rig.start("b");
    wait_for("one connection each", CLUSTER_PATIENCE, || {
        rig.shares() == shares(&[("a", 1), ("b", 1)])
    })
    .await;
    wait_for("the first changes delivered", CLUSTER_PATIENCE, || {
        rig.all_delivered()
    })
    .await;
    let lost = held_by(&rig, "a").pop().unwrap();
    let ehr = &rig.ehrs[lost.trim_start_matches("conn-").parse::<usize>().unwrap() - 1];
    // a polls on: it is paused in the middle of its work, whatever it was doing.
    ehr.touch_each(20);
    a.signal("STOP");
    wait_for("b took a's connection", CLUSTER_PATIENCE, || {
        rig.shares() == shares(&[("b", 2)])
    })
    .await;
    ehr.touch_each(20);
    wait_for("b delivered what a left", CLUSTER_PATIENCE, || {
        rig.all_delivered()
    })
    .await;
    a.signal("CONT");
    wait_for("a says it lost the lease", CLUSTER_PATIENCE, || {
        rig.log_of("a")
            .contains(&format!("lost lease of conn={lost}"))
    })
    .await;
    // Live again, a gets its share back, but only by taking a lease anew (a new epoch);
    // nothing it held from before the pause was written: sequences stay gap-free, one id each.
    wait_for("one connection each again", CLUSTER_PATIENCE, || {
        rig.shares() == shares(&[("a", 1), ("b", 1)])
    })
    .await;
    ehr.touch_each(20);
    wait_for("every change delivered", CLUSTER_PATIENCE, || {
        rig.all_delivered()
    })
    .await;
    let audit = rig.receiver.audit();
    assert!(audit.is_clean(), "{audit:?}");
    let epoch = rig.query("SELECT epoch FROM courier.leases WHERE owner = 'a'");
    let epoch: i64 = epoch.trim().parse().unwrap();
    assert!(
        epoch >= 2,
        "a holds a lease taken anew, not its old epoch 1: {epoch}"
    );
    let log = rig.log_of("a");
    assert!(!log.contains("panicked"), "{log}");
}

#[actix_rt::test]
async fn a_third_instance_takes_only_its_share_and_a_leaving_one_hands_back_at_once() {
    let mut rig = ClusterRig::new("rebalance", 6, 5);
    let _a = rig.start("a");
    let _b = rig.start("b");
    wait_for("three connections each", CLUSTER_PATIENCE, || {
        rig.shares() == shares(&[("a", 3), ("b", 3)])
    })
    .await;
    let before = rig.holders();
    let c = rig.start("c");
    wait_for("two connections each", CLUSTER_PATIENCE, || {
        rig.shares() == shares(&[("a", 2), ("b", 2), ("c", 2)])
    })
    .await;
    let after = rig.holders();
    let moved = before
        .iter()
        .filter(|(conn, owner)| after[*conn] != **owner);
    assert_eq!(
        moved.count(),
        2,
        "only what c took moved: {before:?} → {after:?}"
    );
    c.signal("TERM");
    let mut c = c;
    wait_for("c exits", CLUSTER_PATIENCE, || c.exit_status().is_some()).await;
    let left = Instant::now();
    let kept = rig.query("SELECT count(*) FROM courier.leases WHERE owner = 'c'");
    assert_eq!(
        kept.trim(),
        "0",
        "c handed every lease back before it exited"
    );
    wait_for("a and b own c's connections", CLUSTER_PATIENCE, || {
        rig.shares() == shares(&[("a", 3), ("b", 3)])
    })
    .await;
    let took = left.elapsed();
    // At the others' next tick (every second), not after a lease; slack for a loaded host.
    assert!(
        took < Duration::from_secs(LEASE_SECS),
        "handed-back leases are taken at the next tick, not after the lease: {took:?}"
    );
    assert!(rig.log_of("c").contains("handed back conn="));
    let members = rig.query("SELECT instance FROM courier.members ORDER BY instance");
    assert_eq!(members, "a\nb\n", "c left the members");
    rig.changes_delivered(2).await;
}

#[actix_rt::test]
async fn a_second_live_instance_of_one_name_is_refused_at_start() {
    let mut rig = ClusterRig::new("names", 1, 0);
    let _a = rig.start("a");
    wait_for("a holds the connection", CLUSTER_PATIENCE, || {
        rig.shares() == shares(&[("a", 1)])
    })
    .await;
    let mut twin = rig.start("a");
    wait_for("the twin exits", CLUSTER_PATIENCE, || {
        twin.exit_status().is_some()
    })
    .await;
    assert_eq!(twin.exit_status().unwrap().code(), Some(1));
    let log = rig.log_of("a");
    assert!(
        log.contains("another live instance is registered as \"a\""),
        "{log}"
    );
    assert_eq!(rig.shares(), shares(&[("a", 1)]), "the first one runs on");
}

#[actix_rt::test]
async fn an_instance_restarted_under_its_name_after_kill_9_joins_once_its_old_heartbeat_lapses() {
    let mut rig = ClusterRig::new("rejoin", 2, 0);
    let a = rig.start("a");
    let _b = rig.start("b");
    wait_for("one connection each", CLUSTER_PATIENCE, || {
        rig.shares() == shares(&[("a", 1), ("b", 1)])
    })
    .await;
    let registered = "SELECT started_at FROM courier.members WHERE instance = 'a'";
    let first_run = rig.query(registered);
    a.kill();
    // Restarted at once, as a service manager would: its previous run's row is still fresh.
    let mut again = rig.start("a");
    wait_for("a says why it waits", CLUSTER_PATIENCE, || {
        rig.log_of("a").contains("waiting up to")
    })
    .await;
    wait_for(
        "a rejoins as a new run and takes its share again",
        CLUSTER_PATIENCE,
        || {
            rig.query(registered) != first_run
                && rig.shares() == shares(&[("a", 1), ("b", 1)])
                && again.exit_status().is_none()
        },
    )
    .await;
    rig.changes_delivered(2).await;
}

#[actix_rt::test]
async fn a_connection_added_by_a_reload_is_taken_by_one_instance_and_delivered() {
    let mut rig = ClusterRig::new("reload", 2, 3);
    let a = rig.start("a");
    let b = rig.start("b");
    wait_for("one connection each", CLUSTER_PATIENCE, || {
        rig.shares() == shares(&[("a", 1), ("b", 1)])
    })
    .await;
    let added = rig.add_connection(backlog(4));
    a.signal("HUP");
    b.signal("HUP");
    wait_for("the new connection is owned", CLUSTER_PATIENCE, || {
        rig.holders().contains_key(&added)
    })
    .await;
    let counts: Vec<usize> = rig.shares().into_values().collect();
    assert!(counts == [1, 2] || counts == [2, 1], "{counts:?}");
    wait_for("every change delivered", CLUSTER_PATIENCE, || {
        rig.all_delivered()
    })
    .await;
    let hashes = rig.query("SELECT count(DISTINCT config_hash) FROM courier.members");
    assert_eq!(hashes.trim(), "1", "both run the reloaded configuration");
}

#[actix_rt::test]
async fn an_instance_cut_off_from_the_database_stops_its_connections_within_the_lease() {
    let mut rig = ClusterRig::with_own_server(2, 5);
    let _a = rig.start("a");
    wait_for("a holds both connections", CLUSTER_PATIENCE, || {
        rig.shares() == shares(&[("a", 2)])
    })
    .await;
    wait_for("every change delivered", CLUSTER_PATIENCE, || {
        rig.all_delivered()
    })
    .await;
    let server = rig.server.as_ref().unwrap();
    server.stop().unwrap();
    let cut = Instant::now();
    wait_for("a stops both connections", CLUSTER_PATIENCE, || {
        let log = rig.log_of("a");
        ["conn-1", "conn-2"]
            .iter()
            .all(|c| log.contains(&format!("conn={c} stopped here")))
    })
    .await;
    let stopped = cut.elapsed();
    assert!(
        stopped < Duration::from_secs(LEASE_SECS + 1),
        "stopped {stopped:?} after the database went away"
    );
    server.start().unwrap();
    wait_for("a takes its connections again", CLUSTER_PATIENCE, || {
        rig.shares() == shares(&[("a", 2)])
    })
    .await;
    rig.changes_delivered(3).await;
}

#[actix_rt::test]
async fn once_another_owner_holds_the_lease_nothing_more_is_written_for_the_connection() {
    let mut rig = ClusterRig::new("refused", 1, 5);
    let _a = rig.start("a");
    wait_for("a holds the connection", CLUSTER_PATIENCE, || {
        rig.shares() == shares(&[("a", 1)])
    })
    .await;
    wait_for("every change delivered", CLUSTER_PATIENCE, || {
        rig.all_delivered()
    })
    .await;
    // Another owner, as the database sees it: a's next commit is refused by its fencing
    // check (or its next renewal finds the lease gone, whichever comes first).
    rig.query(
        "UPDATE courier.leases SET owner = 'x', epoch = epoch + 1, \
         expires_at = now() + interval '1 hour' WHERE connection = 'conn-1'",
    );
    let next = rig.query("SELECT next_sequence FROM courier.connection_state");
    rig.ehrs[0].touch_each(10);
    wait_for("a stops the connection", CLUSTER_PATIENCE, || {
        rig.log_of("a").contains("conn=conn-1 stopped here")
    })
    .await;
    let log = rig.log_of("a");
    assert!(
        log.contains("conn=conn-1 lost its lease to another instance; stopped here")
            || log.contains("lost lease of conn=conn-1 (not renewed"),
        "{log}"
    );
    // Whatever a polled after the takeover, none of it reached the store.
    assert_eq!(
        rig.query("SELECT next_sequence FROM courier.connection_state"),
        next
    );
    assert_eq!(
        rig.query("SELECT count(*) FROM courier.pending").trim(),
        "0"
    );
    assert_eq!(rig.shares(), shares(&[("x", 1)]), "a took nothing back");
}
