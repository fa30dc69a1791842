//! The Prometheus text exposition format (version 0.0.4): the status board's counters, the
//! store's backlogs and the [`Meters`](super::Meters), rendered at scrape time; on a clustered
//! instance its leases and members too ([`cluster`]).

mod cluster;

use std::fmt::Write;

use chrono::{DateTime, Utc};

use super::{Histogram, Meters, LATENCY_BUCKETS};
use crate::cluster::ClusterSnapshot;
use crate::status::{
    ConnectionState, ConnectionStatus, DestinationState, DestinationStatus, StatusSnapshot,
};

/// A family read per connection: name, type, help, reader (id, status, scrape).
type ConnectionFamily = (
    &'static str,
    &'static str,
    &'static str,
    fn(&str, &ConnectionStatus, &Scrape<'_>) -> Option<f64>,
);
/// A family read from a destination's status: name, type, help, reader.
type DestinationFamily = (
    &'static str,
    &'static str,
    &'static str,
    fn(&DestinationStatus) -> u64,
);

/// The `Content-Type` of the exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What a scrape reads besides the meters.
pub struct Scrape<'a> {
    /// The board's snapshot.
    pub status: &'a StatusSnapshot,
    /// Pending containers by connection id; `None` when the store cannot say (no sample, so
    /// a dashboard shows a gap, never a false 0).
    pub pending: &'a dyn Fn(&str) -> Option<usize>,
    /// The moment of the scrape, for ages and lags.
    pub now: DateTime<Utc>,
    /// The cluster as the lease keeper last saw it; `None` on a sled store, which then has no
    /// cluster series at all (not zeros: there is no cluster to count).
    pub cluster: Option<&'a ClusterSnapshot>,
    /// Whether `/readyz` would answer 200 (`courier_ready`).
    pub ready: bool,
}

/// Renders every metric.
pub fn render(scrape: &Scrape<'_>, meters: &Meters) -> String {
    let mut out = Exposition::default();
    connection_metrics(&mut out, scrape);
    destination_metrics(&mut out, scrape.status, meters);
    store_metrics(&mut out, scrape.status);
    out.family(
        "courier_ready",
        "gauge",
        "1 while /readyz answers 200 (store answers, every connection runs, leases renewed).",
    );
    out.sample("courier_ready", &[], f64::from(u8::from(scrape.ready)));
    if let Some(snapshot) = scrape.cluster {
        cluster::metrics(&mut out, snapshot);
    }
    out.family(
        "courier_ehr_request_seconds",
        "histogram",
        "Duration of EHR requests (polls and detail requests), once admitted by the pacing.",
    );
    for (id, m) in meters.connections() {
        out.histogram(
            "courier_ehr_request_seconds",
            "connection",
            &id,
            &m.ehr_request,
        );
    }
    out.text
}

/// The connection families read from the board: name, type, help, and the value for one
/// connection (`None`: no sample, such as a lag for a cursor that is not a time).
const CONNECTION_FAMILIES: [ConnectionFamily; 6] = [
    (
        "courier_changes_total",
        "counter",
        "Changes seen (containers created).",
        |_, c, _| Some(c.changes as f64),
    ),
    (
        "courier_connection_restarts_total",
        "counter",
        "Restarts after a failure.",
        |_, c, _| Some(c.restarts as f64),
    ),
    (
        "courier_containers_pending",
        "gauge",
        "Changes stored and not yet delivered nor dead-lettered.",
        |id, _, scrape| (scrape.pending)(id).map(|count| count as f64),
    ),
    (
        "courier_last_successful_poll_age_seconds",
        "gauge",
        "Seconds since the connection's last successful poll (absent before the first).",
        |_, c, scrape| c.last_success.map(|at| seconds(scrape.now - at)),
    ),
    (
        "courier_cursor_lag_seconds",
        "gauge",
        "Now minus the cursor, for connections whose cursor is a time.",
        |_, c, scrape| {
            let cursor = DateTime::parse_from_rfc3339(c.cursor.as_deref()?).ok()?;
            Some(seconds(scrape.now - cursor.with_timezone(&Utc)))
        },
    ),
    (
        "courier_connection_paused",
        "gauge",
        "1 while an operator paused the connection.",
        |_, c, _| Some(f64::from(u8::from(c.state == ConnectionState::Paused))),
    ),
];

fn connection_metrics(out: &mut Exposition, scrape: &Scrape<'_>) {
    let connections = &scrape.status.connections;
    out.family(
        "courier_polls_total",
        "counter",
        "Polls (pages) by connection and outcome.",
    );
    for (id, c) in connections {
        for (outcome, count) in [("ok", c.polls_ok), ("failed", c.polls_failed)] {
            let labels = [("connection", id.as_str()), ("outcome", outcome)];
            out.sample("courier_polls_total", &labels, count as f64);
        }
    }
    out.family(
        "courier_poll_failures_total",
        "counter",
        "Failed polls by connection and kind of failure (as in status).",
    );
    for (id, c) in connections {
        for (kind, count) in &c.poll_failures {
            let labels = [("connection", id.as_str()), ("kind", kind.as_str())];
            out.sample("courier_poll_failures_total", &labels, *count as f64);
        }
    }
    for (name, kind, help, value) in CONNECTION_FAMILIES {
        out.family(name, kind, help);
        for (id, c) in connections {
            if let Some(value) = value(id, c, scrape) {
                out.sample(name, &[("connection", id)], value);
            }
        }
    }
}

/// Whether the store answers: an alert on `courier_store_up == 0` catches a full disk
/// before a backlog alert could (backlogs are unknown meanwhile).
fn store_metrics(out: &mut Exposition, status: &StatusSnapshot) {
    let store = &status.store;
    out.family(
        "courier_store_up",
        "gauge",
        "1 while the store answers; 0 from a write fault (a full disk) until it is re-opened.",
    );
    out.sample("courier_store_up", &[], f64::from(u8::from(store.is_ok())));
    out.family(
        "courier_store_write_faults_total",
        "counter",
        "Write faults that took the store out of service (each followed by a re-open).",
    );
    out.sample(
        "courier_store_write_faults_total",
        &[],
        store.faults_total as f64,
    );
}

fn destination_metrics(out: &mut Exposition, status: &StatusSnapshot, meters: &Meters) {
    let destinations = &status.destinations;
    let families: [DestinationFamily; 3] = [
        (
            "courier_notifications_delivered_total",
            "counter",
            "Notifications acknowledged with 2xx.",
            |d| d.delivered,
        ),
        (
            "courier_notifications_dead_lettered_total",
            "counter",
            "Notifications moved to the dead letters.",
            |d| d.dead_lettered,
        ),
        (
            "courier_notifications_in_flight",
            "gauge",
            "Notifications being attempted or waiting for a retry.",
            |d| d.in_flight,
        ),
    ];
    for (name, kind, help, value) in families {
        out.family(name, kind, help);
        for (id, d) in destinations {
            out.sample(name, &[("destination", id)], value(d) as f64);
        }
    }
    destination_backlogs(out, status);
    destination_states(out, status);
    let all = meters.destinations();
    out.family(
        "courier_delivery_attempts_total",
        "counter",
        "Delivery attempts by destination and outcome class (2xx, 3xx, 4xx, 5xx, timeout, tls, connect, transport).",
    );
    for (id, m) in &all {
        for (class, count) in m.attempts() {
            let labels = [("destination", id.as_str()), ("class", class.label())];
            out.sample("courier_delivery_attempts_total", &labels, count as f64);
        }
    }
    out.family(
        "courier_delivery_latency_seconds",
        "histogram",
        "Duration of one delivery attempt, from sending the request to the end of the answer.",
    );
    for (id, m) in &all {
        out.histogram(
            "courier_delivery_latency_seconds",
            "destination",
            id,
            &m.latency,
        );
    }
}

/// Each destination's stored backlog and the age of its oldest pending container, as
/// `/status` shows them: no sample while the store cannot say (a gap, never a false 0), and
/// an age of 0 when nothing is pending, so an alert on the age needs no special case.
fn destination_backlogs(out: &mut Exposition, status: &StatusSnapshot) {
    let (backlog, age) = (
        "courier_destination_backlog",
        "courier_destination_oldest_pending_age_seconds",
    );
    out.family(
        backlog,
        "gauge",
        "Changes stored for the destination's connections and not yet delivered nor dead-lettered.",
    );
    for (id, d) in &status.destinations {
        if let Some(count) = d.backlog {
            out.sample(backlog, &[("destination", id)], count as f64);
        }
    }
    out.family(
        age,
        "gauge",
        "Seconds since the oldest of the destination's pending changes was seen (0 when none).",
    );
    for (id, d) in &status.destinations {
        if let Some(count) = d.backlog {
            let secs = if count == 0 {
                Some(0.0)
            } else {
                d.oldest_pending_age_secs
            };
            if let Some(secs) = secs {
                out.sample(age, &[("destination", id)], secs);
            }
        }
    }
}

/// `courier_destination_state`: one sample per destination and state, 1 for the state it is
/// in, so an alert can fire on `courier_destination_state{state="failing"} == 1`.
fn destination_states(out: &mut Exposition, status: &StatusSnapshot) {
    const STATES: [(DestinationState, &str); 3] = [
        (DestinationState::Healthy, "healthy"),
        (DestinationState::Failing, "failing"),
        (DestinationState::Paused, "paused"),
    ];
    let name = "courier_destination_state";
    out.family(
        name,
        "gauge",
        "1 for the state each destination is in (healthy, failing, paused), 0 for the others.",
    );
    for (id, d) in &status.destinations {
        for (state, label) in STATES {
            let value = f64::from(u8::from(d.state == state));
            out.sample(name, &[("destination", id), ("state", label)], value);
        }
    }
}

fn seconds(duration: chrono::Duration) -> f64 {
    duration.num_milliseconds().max(0) as f64 / 1000.0
}

/// The text being built.
#[derive(Default)]
struct Exposition {
    text: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (key, value)) in labels.iter().enumerate() {
                let sep = if i == 0 { "" } else { "," };
                let _ = write!(self.text, "{sep}{key}=\"{}\"", escape(value));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {value}");
    }

    fn histogram(&mut self, name: &str, label: &str, id: &str, histogram: &Histogram) {
        let (cumulative, sum) = histogram.read();
        let bucket = format!("{name}_bucket");
        for (bound, count) in LATENCY_BUCKETS.iter().zip(&cumulative) {
            let le = bound.to_string();
            self.sample(&bucket, &[(label, id), ("le", &le)], *count as f64);
        }
        let total = *cumulative.last().unwrap_or(&0) as f64;
        self.sample(&bucket, &[(label, id), ("le", "+Inf")], total);
        self.sample(&format!("{name}_sum"), &[(label, id)], sum);
        self.sample(&format!("{name}_count"), &[(label, id)], total);
    }
}

/// Escapes a label value as the format requires.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
