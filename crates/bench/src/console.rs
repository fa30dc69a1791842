//! The console scenario of issue 16: `courier run` with 10,000 idle connections (polled once
//! an hour, so the figures are the console's and not the polling's), against the load EHR.
//! Once every connection has polled, the admin API's `/status` and `/overview` (one page of
//! 100 rows) are timed and sized, each the median of several requests; then the console's
//! overview is loaded in headless Chromium several times, each load timed from navigation
//! start to its first connection row drawn, in the page's own clock.

use std::time::{Duration, Instant};

use courier_browser::Browser;
use serde_json::{json, Value};

use crate::procs::http;
use crate::scenarios::{Bench, Results, Row, Setup, Source};

/// Connections of the scenario: the issue's "a page of 10,000 connections".
pub const CONNECTIONS: usize = 10_000;
/// Timed requests of each endpoint; the table gives the median.
const LOADS: usize = 7;
/// Loads of the console's overview in the browser; the table gives the median.
const PAGE_LOADS: usize = 7;
/// The overview's connection rows.
const ROWS: &str = "tr[data-test=connection-row]";
/// The performance mark the observer below sets at the first frame drawn with a row.
const MARK: &str = "courier-bench-first-rows";
/// Runs in every new document before the page's own scripts (so no row is missed): marks
/// the first animation frame after a connection row was added. Injected by the browser's
/// devtools, not by the page, so the console's Content-Security-Policy is unchanged.
const OBSERVER: &str = r#"
new MutationObserver((_, observer) => {
  if (document.querySelector("tr[data-test=connection-row]")) {
    observer.disconnect();
    requestAnimationFrame(() => performance.mark("courier-bench-first-rows"));
  }
}).observe(document, { childList: true, subtree: true });
"#;
/// Waits for the mark, then answers it and the `/overview` request's timing, all in
/// milliseconds since the navigation started.
const READ_MARKS: &str = r#"
const [mark, rows] = arguments;
return new Promise((resolve) => {
  const look = () => {
    const first = performance.getEntriesByName(mark)[0];
    if (!first) return setTimeout(look, 10);
    const data = performance.getEntriesByType("resource").find((e) => e.name.includes("/overview"));
    resolve({
      rows_ms: first.startTime,
      overview_start_ms: data ? data.startTime : null,
      overview_end_ms: data ? data.responseEnd : null,
      rows: document.querySelectorAll(rows).length,
    });
  };
  look();
});
"#;
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
    let page = actix_rt::System::new().block_on(page_loads(&rig.admin));
    let (rows, data) = (median(&page.rows_ms), median(&page.overview_end_ms));
    results.rows.push(Row {
        scenario: format!("Console, {connections} connections: overview's first rows drawn"),
        measured: format!(
            "median {rows:.0} ms from navigation start (max {:.0} ms; `/overview` answered by \
             {data:.0} ms)",
            page.rows_ms.iter().copied().fold(0.0, f64::max)
        ),
        target: "n/a".into(),
        met: None,
    });
    let exit = rig.stop();
    results.details.push(format!(
        "**Console** ({connections} connections on idle feeds, interval_secs 3600): every \
         connection had polled once {:.1} s after Courier was spawned; each endpoint timed over \
         {LOADS} requests on loopback, each a new connection, body read to the end. The console's \
         overview (`/console/#/`) loaded {PAGE_LOADS} times in headless Chromium (a blank page \
         between loads): the first frame drawn with a connection row, by a performance mark \
         set from a MutationObserver; {} rows on the first page. First rows, each load (ms): \
         {:?}.{exit}",
        first_round.as_secs_f64(),
        page.rows,
        page.rows_ms.iter().map(|ms| ms.round()).collect::<Vec<_>>(),
    ));
}

/// What the browser measured over [`PAGE_LOADS`] loads.
struct PageLoads {
    /// Navigation start to the first frame with a connection row, per load.
    rows_ms: Vec<f64>,
    /// Navigation start to the end of the `/overview` answer, per load.
    overview_end_ms: Vec<f64>,
    /// Connection rows shown by the last load.
    rows: u64,
}

/// Loads the console's overview [`PAGE_LOADS`] times in a fresh headless Chromium.
async fn page_loads(admin: &str) -> PageLoads {
    let browser = Browser::start().await.expect("headless Chromium starts");
    let observer = json!({"cmd": "Page.addScriptToEvaluateOnNewDocument",
                          "params": {"source": OBSERVER}});
    browser
        .command("POST", "/goog/cdp/execute", Some(observer))
        .await
        .expect("the row observer is installed");
    let mut loads = PageLoads {
        rows_ms: Vec::new(),
        overview_end_ms: Vec::new(),
        rows: 0,
    };
    for _ in 0..PAGE_LOADS {
        browser.goto("about:blank").await.expect("a blank page");
        browser
            .goto(&format!("{admin}/console/#/"))
            .await
            .expect("the console loads");
        let marks: Value = browser
            .execute(READ_MARKS, json!([MARK, ROWS]))
            .await
            .expect("the overview draws its rows");
        loads
            .rows_ms
            .push(marks["rows_ms"].as_f64().expect("a time"));
        let data = marks["overview_end_ms"].as_f64();
        loads
            .overview_end_ms
            .push(data.expect("an /overview request"));
        loads.rows = marks["rows"].as_u64().unwrap_or(0);
    }
    loads
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
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
    Timed {
        median_ms: median(&times),
        max_ms: times.iter().copied().fold(0.0, f64::max),
        bytes,
    }
}
