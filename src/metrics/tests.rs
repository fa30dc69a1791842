//! Recording and rendering: classes, cumulative buckets, and the text format's shape.

use std::time::Duration;

use chrono::Utc;

use super::exposition::{render, Scrape};
use super::{AttemptClass, Meters};
use crate::cluster::{ClusterSnapshot, MemberView};
use crate::delivery::sender::AttemptOutcome;
use crate::status::StatusBoard;

fn failed(status: Option<u16>, error: &str) -> AttemptOutcome {
    AttemptOutcome::Failed {
        status,
        retry_after: None,
        error: error.into(),
    }
}

#[test]
fn attempts_are_classified_by_status_or_by_the_senders_words() {
    let cases = [
        (AttemptOutcome::Delivered { status: 204 }, "2xx"),
        (failed(Some(302), "HTTP 302"), "3xx"),
        (failed(Some(404), "HTTP 404"), "4xx"),
        (failed(Some(503), "HTTP 503"), "5xx"),
        (failed(None, "timed out after 2s"), "timeout"),
        (
            failed(None, "TLS: the server's certificate has an unknown issuer"),
            "tls",
        ),
        (
            failed(None, "Failed to connect to host: Connection refused"),
            "connect",
        ),
        (failed(None, "Connection reset by peer"), "transport"),
    ];
    for (outcome, label) in cases {
        assert_eq!(AttemptClass::of(&outcome).label(), label, "{outcome:?}");
    }
}

#[test]
fn the_exposition_has_cumulative_buckets_and_counts_per_label() {
    let board = StatusBoard::default();
    board.connection("clinic-a", |c| {
        c.polls_ok = 3;
        c.poll_failures.insert("clock_skew".into(), 2);
        c.changes = 5;
        c.cursor = Some("2026-11-26T10:00:00Z".into());
        c.last_success = Some(Utc::now());
    });
    board.destination("app", |d| d.delivered = 4);
    board.destination("crm", |d| {
        d.state = crate::status::DestinationState::Failing
    });
    let meters: &Meters = board.meters();
    let dest = meters.destination("app");
    dest.attempt(
        &AttemptOutcome::Delivered { status: 200 },
        Duration::from_millis(3),
    );
    dest.attempt(&failed(Some(500), "HTTP 500"), Duration::from_millis(70));
    board.destination("unread", |_| ());
    let mut status = board.snapshot();
    // As `fill_backlogs` leaves them: app has a backlog, crm none, unread's store failed.
    let app = status.destinations.get_mut("app").unwrap();
    (app.backlog, app.oldest_pending_age_secs) = (Some(3), Some(12.5));
    status.destinations.get_mut("crm").unwrap().backlog = Some(0);
    let text = render(
        &Scrape {
            status: &status,
            pending: &|_| Some(2),
            now: Utc::now(),
            cluster: None,
            ready: true,
        },
        meters,
    );
    for line in [
        "courier_polls_total{connection=\"clinic-a\",outcome=\"ok\"} 3",
        "courier_poll_failures_total{connection=\"clinic-a\",kind=\"clock_skew\"} 2",
        "courier_changes_total{connection=\"clinic-a\"} 5",
        "courier_containers_pending{connection=\"clinic-a\"} 2",
        "courier_notifications_delivered_total{destination=\"app\"} 4",
        "courier_delivery_attempts_total{destination=\"app\",class=\"2xx\"} 1",
        "courier_delivery_attempts_total{destination=\"app\",class=\"5xx\"} 1",
        "courier_delivery_latency_seconds_bucket{destination=\"app\",le=\"0.005\"} 1",
        "courier_delivery_latency_seconds_bucket{destination=\"app\",le=\"0.05\"} 1",
        "courier_delivery_latency_seconds_bucket{destination=\"app\",le=\"0.1\"} 2",
        "courier_delivery_latency_seconds_bucket{destination=\"app\",le=\"+Inf\"} 2",
        "courier_delivery_latency_seconds_count{destination=\"app\"} 2",
        "# TYPE courier_delivery_latency_seconds histogram",
        "courier_destination_state{destination=\"app\",state=\"healthy\"} 1",
        "courier_destination_state{destination=\"app\",state=\"failing\"} 0",
        "courier_destination_state{destination=\"crm\",state=\"failing\"} 1",
        "courier_destination_state{destination=\"crm\",state=\"paused\"} 0",
        "courier_destination_backlog{destination=\"app\"} 3",
        "courier_destination_backlog{destination=\"crm\"} 0",
        "courier_destination_oldest_pending_age_seconds{destination=\"app\"} 12.5",
        "courier_destination_oldest_pending_age_seconds{destination=\"crm\"} 0",
        "# TYPE courier_ready gauge",
        "courier_ready 1",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in:\n{text}"
        );
    }
    for family in [
        "courier_destination_backlog",
        "courier_destination_oldest_pending_age_seconds",
    ] {
        let unknown = format!("{family}{{destination=\"unread\"}}");
        assert!(
            !text.contains(&unknown),
            "no sample for a backlog the store could not read: {text}"
        );
    }
    assert!(text.contains("courier_cursor_lag_seconds{connection=\"clinic-a\"} "));
    assert!(text.contains("courier_last_successful_poll_age_seconds{connection=\"clinic-a\"} "));
    assert!(
        !text.contains("courier_cluster"),
        "no cluster on sled: {text}"
    );
}

#[test]
fn a_clustered_instance_exposes_its_leases_members_and_mismatches() {
    let member = |instance: &str, hash: &str, live: bool| MemberView {
        instance: instance.into(),
        started_at: Utc::now(),
        heartbeat_at: Utc::now(),
        live,
        config_hash: hash.into(),
        same_config: hash == "aaaa",
        admin_url: None,
    };
    let cluster = ClusterSnapshot {
        instance: "node-1".into(),
        config_hash: "aaaa".into(),
        members: vec![
            member("node-1", "aaaa", true),
            member("node-2", "bbbb", true),
            member("node-3", "cccc", false),
        ],
        leases_held: 4,
        lease_losses: 1,
        takeovers: 2,
        ..ClusterSnapshot::default()
    };
    let board = StatusBoard::default();
    let text = render(
        &Scrape {
            status: &board.snapshot(),
            pending: &|_| None,
            now: Utc::now(),
            cluster: Some(&cluster),
            ready: false,
        },
        board.meters(),
    );
    for line in [
        "# TYPE courier_cluster_leases_held gauge",
        "courier_cluster_leases_held 4",
        "# TYPE courier_cluster_lease_losses_total counter",
        "courier_cluster_lease_losses_total 1",
        "# TYPE courier_cluster_takeovers_total counter",
        "courier_cluster_takeovers_total 2",
        "# TYPE courier_cluster_members gauge",
        "courier_cluster_members{state=\"live\"} 2",
        "courier_cluster_members{state=\"gone\"} 1",
        "# TYPE courier_cluster_config_mismatch gauge",
        "courier_cluster_config_mismatch 1",
        "courier_ready 0",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in:\n{text}"
        );
    }
    let helps = text
        .lines()
        .filter(|l| l.starts_with("# HELP courier_cluster_"));
    assert_eq!(helps.count(), 5, "{text}");
}
