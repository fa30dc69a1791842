//! The console scenario of issue 16: `courier run` with 10,000 idle connections (polled once
//! an hour, so the figures are the console's and not the polling's), against the load EHR.
//! Once every connection has polled, the admin API's `/status` and `/overview` (one page of
//! 100 rows) are timed and sized, each the median of several requests.

use std::time::{Duration, Instant};

use crate::procs::http;
use crate::scenarios::{Bench, Results, Row, Setup, Source};

/// Connections of the scenario: the "a page of 10,000 connections".
pub const CONNECTIONS: usize = 10_000;
/// Timed requests of each endpoint; the table gives the median.
const LOADS: usize = 7;
/// The longest Courier may take to poll every connection once after it started.
const FIRST_ROUND_BOUND: Duration = Duration::from_secs(180);

/// What one endpoint answered over [`LOADS`] requests.
struct Timed {
    median_ms: f64,
    max_ms: f64,
    bytes: usize,
}

/// Runs the scenario and adds its rows.
pub fn scenario(bench: &Bench, connections: usize, results: &mut Results) {
    let setup = Setup {
        source: Source::Changes,
        connections,
        interval_secs: 3600.0,
        page_size: 1000,
        enrichments: 32,
        in_flight: 64,
    };
    let rig = bench.rig("console", &setup, &["--feed", "idle"], None);
    let started = Instant::now();
    while rig.ehr_requests().0 < connections as u64 && started.elapsed() < FIRST_ROUND_BOUND {
        std::thread::sleep(Duration::from_millis(200));
    }
    let first_round = started.elapsed();
    let endpoints = [("/status", "/status"), ("/overview", "/overview?limit=100")];
    for (name, path) in endpoints {
        let timed = time(&rig.admin, path);
        results.rows.push(Row {
            scenario: format!("Console, {connections} connections: `GET {name}`"),
            measured: format!(
                "median {:.0} ms (max {:.0} ms), {:.0} KB",
                timed.median_ms,
                timed.max_ms,
                timed.bytes as f64 / 1024.0
            ),
            target: "n/a".into(),
            met: None,
        });
    }
    let exit = rig.stop();
    results.details.push(format!(
        "**Console** ({connections} connections on idle feeds, interval_secs 3600): every \
         connection had polled once {:.1} s after Courier was spawned; each endpoint timed over \
         {LOADS} requests on loopback, each a new connection, body read to the end.{exit}",
        first_round.as_secs_f64(),
    ));
}

/// Requests `path` [`LOADS`] times: the median and longest time, and the body's size.
fn time(admin: &str, path: &str) -> Timed {
    let mut times = Vec::with_capacity(LOADS);
    let mut bytes = 0;
    for _ in 0..LOADS {
        let start = Instant::now();
        let body = http(admin, "GET", path);
        times.push(start.elapsed().as_secs_f64() * 1000.0);
        bytes = body.len();
    }
    times.sort_by(f64::total_cmp);
    Timed {
        median_ms: times[times.len() / 2],
        max_ms: times[times.len() - 1],
        bytes,
    }
}
