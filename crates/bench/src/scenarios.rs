//! The five scenarios of the benchmark suite (issue 6), each bounded in time, on loopback:
//! the load EHR and the counting receiver run as processes of their own, so Courier's CPU
//! time and memory are read from its own `/proc` entries.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use courier::model::{ChangeItem, CursorState, CursorValue};
use courier::store::{ConnectionState, Store};
use courier_sim::load::now_us;
use courier_sim::TallyReport;
use serde_json::json;

use crate::procs::{http, machine_busy_secs, Proc, Sample};

/// The environment variable Courier reads the destination secret from.
pub(crate) const SECRET_ENV: &str = "BENCH_SECRET";

/// Where the binaries are and where scenarios keep their stores and logs.
pub struct Bench {
    /// The `courier` binary under test.
    pub courier: PathBuf,
    /// This harness, re-run for its `ehr` and `receiver` subcommands.
    pub harness: PathBuf,
    /// Stores, configurations and Courier's logs.
    pub work: PathBuf,
    pub secret: String,
    /// Seconds each throughput and latency scenario measures (after its warm-up).
    pub measure_secs: u64,
    /// Scrape Courier's `/metrics` and `/status` this often during the throughput
    /// measurement, to measure the admin API's overhead under load; `None`: no scraping.
    pub admin_scrape: Option<Duration>,
    /// Runs of each throughput scenario; the table gives their median (the host's speed
    /// drifts by up to 20% over tens of minutes, see BENCHMARKS.md).
    pub repeat: usize,
}

/// Which of Courier's sources a scenario polls.
#[derive(Clone, Copy, PartialEq)]
pub enum Source {
    /// A changes feed with two enrichment GETs per change.
    Changes,
    /// A FHIR `_lastUpdated` search of Appointments with one `enrich` reference (Patient).
    Fhir,
}

/// How Courier is configured for a scenario.
#[derive(Clone)]
pub struct Setup {
    pub source: Source,
    pub connections: usize,
    pub interval_secs: f64,
    pub page_size: usize,
    pub enrichments: usize,
    pub in_flight: usize,
}

impl Setup {
    /// The settings for draining a backlog as fast as possible (throughput and recovery).
    pub fn draining(connections: usize) -> Self {
        Self {
            source: Source::Changes,
            connections,
            interval_secs: 1.0,
            page_size: 1000,
            enrichments: 32,
            in_flight: 256,
        }
    }
}

/// One line of the results table.
pub struct Row {
    pub scenario: String,
    pub measured: String,
    pub target: String,
    pub met: Option<bool>,
}

/// Everything the report shows.
#[derive(Default)]
pub struct Results {
    pub rows: Vec<Row>,
    /// Notes per scenario: harness CPU, counts, settings.
    pub details: Vec<String>,
}

/// A running trio: load EHR, counting receiver, Courier.
pub(crate) struct Rig {
    ehr: Proc,
    receiver: Proc,
    courier: Proc,
    spawned_us: u64,
    /// Courier's admin API, `http://127.0.0.1:<free port>`.
    pub(crate) admin: String,
}

impl Bench {
    /// Spawns the load EHR with these arguments.
    pub(crate) fn ehr(&self, args: &[&str]) -> Proc {
        let mut command = Command::new(&self.harness);
        command.arg("ehr").args(args);
        Proc::spawn_ready("load EHR", command)
    }

    /// Spawns the counting receiver.
    pub(crate) fn receiver(&self) -> Proc {
        let mut command = Command::new(&self.harness);
        command.arg("receiver").env(SECRET_ENV, &self.secret);
        Proc::spawn_ready("receiver", command)
    }

    /// Spawns `courier run` on `config`, logging to `<name>.log` in the work directory.
    pub(crate) fn courier(&self, name: &str, config: &Path) -> Proc {
        self.courier_logging(name, config, "warn")
    }

    /// As [`Bench::courier`], with `rust_log` as Courier's log filter.
    pub(crate) fn courier_logging(&self, name: &str, config: &Path, rust_log: &str) -> Proc {
        let log = std::fs::File::create(self.work.join(format!("{name}.log"))).expect("a log file");
        let mut command = Command::new(&self.courier);
        command
            .arg("run")
            .arg("--config")
            .arg(config)
            .env(SECRET_ENV, &self.secret)
            .env("RUST_LOG", rust_log)
            .stderr(log);
        Proc::spawn("courier", command)
    }

    /// Starts the trio with a fresh (or the given, pre-filled) store.
    pub(crate) fn rig(
        &self,
        name: &str,
        setup: &Setup,
        ehr_args: &[&str],
        store: Option<PathBuf>,
    ) -> Rig {
        let ehr = self.ehr(ehr_args);
        let receiver = self.receiver();
        let store = store.unwrap_or_else(|| {
            let dir = self.work.join(format!("{name}.store"));
            let _ = std::fs::remove_dir_all(&dir);
            dir
        });
        let config = self.work.join(format!("{name}.toml"));
        let admin = free_loopback_addr();
        let mut text = config_toml(&store, &ehr.ready, &receiver.ready, setup);
        text.push_str(&format!("[admin]\nlisten = \"{admin}\"\n"));
        std::fs::write(&config, text).expect("writing the configuration");
        let spawned_us = now_us();
        let courier = self.courier(name, &config);
        Rig {
            ehr,
            receiver,
            courier,
            spawned_us,
            admin: format!("http://{admin}"),
        }
    }
}

impl Rig {
    fn tally(&self) -> TallyReport {
        tally(&self.receiver)
    }

    pub(crate) fn ehr_requests(&self) -> (u64, u64) {
        let body = http(&self.ehr.ready, "GET", "/api/_stats");
        let v: serde_json::Value = serde_json::from_str(&body).expect("EHR stats");
        (
            v["feed"].as_u64().unwrap_or(0),
            v["details"].as_u64().unwrap_or(0),
        )
    }

    fn samples(&self) -> Samples {
        Samples {
            procs: [
                self.courier.sample(),
                self.ehr.sample(),
                self.receiver.sample(),
            ],
            machine_busy_secs: machine_busy_secs(),
        }
    }

    /// Stops Courier gracefully; says so when it did not exit 0.
    pub(crate) fn stop(self) -> String {
        let Rig {
            courier,
            ehr,
            receiver,
            ..
        } = self;
        let stopping = Instant::now();
        let code = courier.terminate(Duration::from_secs(20));
        eprintln!(
            "courier-bench: Courier stopped in {:.1} s",
            stopping.elapsed().as_secs_f64()
        );
        drop((ehr, receiver));
        match code {
            Some(0) => String::new(),
            other => format!(" Courier's exit at SIGTERM: {other:?}."),
        }
    }
}

/// The counting receiver's counts now.
pub(crate) fn tally(receiver: &Proc) -> TallyReport {
    let body = http(&receiver.ready, "GET", "/stats");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("receiver stats {body:?}: {e}"))
}

/// Courier, the load EHR and the receiver, and the machine as a whole, at one moment.
struct Samples {
    procs: [Sample; 3],
    machine_busy_secs: f64,
}

impl std::ops::Index<usize> for Samples {
    type Output = Sample;

    fn index(&self, i: usize) -> &Sample {
        &self.procs[i]
    }
}

/// CPU of the three processes over a window, and of everything else on the machine.
fn cpu_note(before: &Samples, after: &Samples) -> String {
    let ours: Vec<f64> = (0..3)
        .map(|i| after[i].cpu_percent_since(&before[i]))
        .collect();
    let secs = match (after[0].at, before[0].at) {
        (Some(b), Some(a)) => b.duration_since(a).as_secs_f64(),
        _ => 1.0,
    };
    let machine = (after.machine_busy_secs - before.machine_busy_secs) / secs * 100.0;
    let others = (machine - ours.iter().sum::<f64>()).max(0.0);
    format!(
        "CPU (% of one core): Courier {:.0}, load EHR {:.0}, receiver {:.0}, \
         other processes on the machine {others:.0}",
        ours[0], ours[1], ours[2],
    )
}

pub(crate) fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

/// Notifications per second in the whole seconds between `from_us` and `to_us`: (min, max).
pub(crate) fn per_second_range(
    report: &TallyReport,
    from_us: u64,
    to_us: u64,
) -> Option<(u64, u64)> {
    let (first, last) = (from_us / 1_000_000 + 1, to_us / 1_000_000);
    let inside: Vec<u64> = report
        .per_second
        .iter()
        .filter(|(s, _)| (first..last).contains(s))
        .map(|(_, n)| *n)
        .collect();
    Some((*inside.iter().min()?, *inside.iter().max()?))
}

/// Scenarios 1 and 4: an endless backlog, `connections` connections.
pub fn throughput(bench: &Bench, connections: usize, results: &mut Results) -> u64 {
    let run = ThroughputRun {
        name: format!("throughput-{connections}"),
        setup: Setup::draining(connections),
        scenario: format!("1. Throughput, endless backlog, {connections} connection(s)"),
        settings: "page 1000, 2 enrichment GETs of 256-byte-padded records, \
                   max_concurrent_enrichments 32, max_in_flight 256"
            .into(),
    };
    run.measure(bench, results)
}

/// One throughput measurement against an endless backlog: what differs between flavours.
pub struct ThroughputRun {
    /// Names the store, configuration and log files.
    pub name: String,
    pub setup: Setup,
    /// The results table's row name; its bold part in the notes too.
    pub scenario: String,
    /// Courier's settings, for the notes.
    pub settings: String,
}

/// The throughput target of scenario 1, notifications per second.
pub(crate) const TARGET_RATE: f64 = 20_000.0;

/// What one throughput run measured.
struct Measured {
    rate: f64,
    peak_kb: u64,
    /// The run's line in the notes.
    note: String,
}

impl ThroughputRun {
    /// Runs the measurement `bench.repeat` times; the table's row gives the median rate, the
    /// notes every run. Answers Courier's peak RSS (kB), the highest of the runs.
    pub fn measure(self, bench: &Bench, results: &mut Results) -> u64 {
        let runs: Vec<Measured> = (1..=bench.repeat.max(1))
            .map(|run| self.once(bench, run))
            .collect();
        let mut rates: Vec<f64> = runs.iter().map(|run| run.rate).collect();
        rates.sort_by(f64::total_cmp);
        let middle = rates.len() / 2;
        let median = if rates.len() % 2 == 0 {
            (rates[middle - 1] + rates[middle]) / 2.0
        } else {
            rates[middle]
        };
        let measured = if rates.len() == 1 {
            format!("{median:.0} notifications/s")
        } else {
            let above = rates.iter().filter(|rate| **rate >= TARGET_RATE).count();
            format!(
                "median of {} runs {median:.0} notifications/s ({:.0}–{:.0}; {above} of {} at \
                 or above the target)",
                rates.len(),
                rates[0],
                rates[rates.len() - 1],
                rates.len()
            )
        };
        results.rows.push(Row {
            scenario: self.scenario.clone(),
            measured,
            target: "≥ 20,000/s".into(),
            met: Some(median >= TARGET_RATE),
        });
        let peak_kb = runs.iter().map(|run| run.peak_kb).max().unwrap_or(0);
        results.details.extend(runs.into_iter().map(|run| run.note));
        peak_kb
    }

    /// One run: `bench.measure_secs` after a 5 s warm-up.
    fn once(&self, bench: &Bench, run: usize) -> Measured {
        let ehr_args = ["--feed", "backlog", "--payload", "256"];
        // One store for all runs: each starts by deleting the one before (its retained
        // notifications are a gigabyte).
        let rig = bench.rig(&self.name, &self.setup, &ehr_args, None);
        std::thread::sleep(Duration::from_secs(5));
        let (before, start_us) = (rig.tally(), now_us());
        let cpu_before = rig.samples();
        let scraper = bench
            .admin_scrape
            .map(|every| Scraper::start(&rig.admin, every));
        std::thread::sleep(Duration::from_secs(bench.measure_secs));
        let scrapes = scraper.map(Scraper::stop);
        let (after, end_us) = (rig.tally(), now_us());
        let cpu_after = rig.samples();
        let secs = (end_us - start_us) as f64 / 1e6;
        let rate = (after.unique - before.unique) as f64 / secs;
        let peak_kb = cpu_after[0].peak_rss_kb;
        let range = per_second_range(&after, start_us, end_us).unwrap_or_default();
        let exit = rig.stop();
        let which = if bench.repeat > 1 {
            format!(" (run {run} of {})", bench.repeat)
        } else {
            String::new()
        };
        let mut note = format!(
            "**{}**{which} ({}): {rate:.0}/s over {secs:.0} s after a 5 s warm-up (per-second \
             min {} / max {}); {} delivered in all, {} duplicates, {} unverified; latency from \
             change to receipt p50 {} ms, p99 {} ms. {}. Peak RSS {:.0} MB.{exit}",
            self.scenario,
            self.settings,
            range.0,
            range.1,
            after.unique,
            after.duplicates,
            after.unverified,
            after.latency_p50_ms.unwrap_or(0),
            after.latency_p99_ms.unwrap_or(0),
            cpu_note(&cpu_before, &cpu_after),
            mb(peak_kb),
        );
        if let (Some(every), Some(scrapes)) = (bench.admin_scrape, scrapes) {
            note.push_str(&format!(
                " Admin API scraped during the measurement: GET /metrics and GET /status every \
                 {every:?}, {scrapes} scrapes (compare with a run without --admin-scrape-ms)."
            ));
        }
        Measured {
            rate,
            peak_kb,
            note,
        }
    }
}

/// A free loopback address for Courier's admin API (bound, read, released).
pub(crate) fn free_loopback_addr() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address")
}

/// A thread that scrapes `/metrics` and `/status` at a fixed pace until stopped, as a
/// monitoring system and an operator's dashboard would.
struct Scraper {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<u64>,
}

impl Scraper {
    fn start(admin: &str, every: Duration) -> Self {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let (flag, admin) = (std::sync::Arc::clone(&stop), admin.to_owned());
        let thread = std::thread::spawn(move || {
            let mut scrapes = 0;
            while !flag.load(Ordering::Relaxed) {
                let metrics = http(&admin, "GET", "/metrics");
                assert!(metrics.contains("courier_polls_total"), "a /metrics answer");
                let _ = http(&admin, "GET", "/status");
                scrapes += 1;
                std::thread::sleep(every);
            }
            scrapes
        });
        Self { stop, thread }
    }

    /// Stops scraping; the number of scrapes made.
    fn stop(self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().expect("the scraper thread")
    }
}

/// Scenario 4, from the peaks of the scenario 1 runs.
pub fn peak_memory(peaks: &[(usize, u64)], results: &mut Results) {
    let Some(worst) = peaks.iter().map(|(_, kb)| *kb).max() else {
        return;
    };
    let each: Vec<String> = peaks
        .iter()
        .map(|(n, kb)| format!("{:.0} MB with {n}", mb(*kb)))
        .collect();
    results.rows.push(Row {
        scenario: "4. Peak RSS during scenario 1".into(),
        measured: format!("{:.0} MB ({})", mb(worst), each.join(", ")),
        target: "≤ 150 MB".into(),
        met: Some(mb(worst) <= 150.0),
    });
}

/// Scenario 2: a steady 2,000 changes/s, EHR latency 20 ms ± 10 ms.
pub fn latency(bench: &Bench, results: &mut Results) {
    let setup = Setup {
        source: Source::Changes,
        connections: 1,
        interval_secs: 1.0,
        page_size: 1000,
        enrichments: 512,
        in_flight: 512,
    };
    let ehr_args = [
        "--feed",
        "rate:2000",
        "--payload",
        "256",
        "--latency-ms",
        "20",
        "--jitter-ms",
        "10",
    ];
    let rig = bench.rig("latency", &setup, &ehr_args, None);
    std::thread::sleep(Duration::from_secs(5));
    http(&rig.receiver.ready, "POST", "/stats/reset-latency");
    let (before, start_us) = (rig.tally(), now_us());
    let cpu_before = rig.samples();
    std::thread::sleep(Duration::from_secs(bench.measure_secs));
    let (after, end_us) = (rig.tally(), now_us());
    let cpu_after = rig.samples();
    let rate = (after.unique - before.unique) as f64 / ((end_us - start_us) as f64 / 1e6);
    let exit = rig.stop();
    let interval_ms = (setup.interval_secs * 1000.0) as i64;
    let beyond = |ms: Option<u64>| ms.map_or(i64::MAX, |ms| ms as i64 - interval_ms);
    let (p50, p99) = (beyond(after.latency_p50_ms), beyond(after.latency_p99_ms));
    results.rows.push(Row {
        scenario: "2. Latency, steady 2,000 changes/s, EHR 20 ± 10 ms".into(),
        measured: format!(
            "p50 {} ms, p99 {} ms from creation to receipt ({p50:+} / {p99:+} ms beyond the 1 s interval)",
            after.latency_p50_ms.unwrap_or(0),
            after.latency_p99_ms.unwrap_or(0)
        ),
        target: "p99 ≤ interval + 250 ms".into(),
        met: Some(p99 <= 250),
    });
    results.details.push(format!(
        "**2. Latency** (1 connection, interval_secs 1 (+ up to 10% jitter), page 1000, \
         max_concurrent_enrichments 512, max_in_flight 512): {} latencies over {} s, max {} ms; \
         delivered {rate:.0}/s against 2,000 changes/s; {} duplicates. {}.{exit}",
        after.latency_count,
        bench.measure_secs,
        after.latency_max_ms.unwrap_or(0),
        after.duplicates,
        cpu_note(&cpu_before, &cpu_after),
    ));
}

/// Scenario 3: 10,000 connections polling idle feeds every 60 s.
pub fn scale(bench: &Bench, connections: usize, results: &mut Results) {
    let setup = Setup {
        source: Source::Changes,
        connections,
        interval_secs: 60.0,
        page_size: 1000,
        enrichments: 32,
        in_flight: 64,
    };
    let rig = bench.rig("scale", &setup, &["--feed", "idle"], None);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(180);
    while rig.ehr_requests().0 < connections as u64 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let first_round = started.elapsed();
    let (feed_before, _) = rig.ehr_requests();
    // One full poll round: 60 s plus up to 10% jitter, and a little more.
    std::thread::sleep(Duration::from_secs(5));
    let cpu_before = rig.samples();
    std::thread::sleep(Duration::from_secs(70));
    let cpu_after = rig.samples();
    let (feed_after, _) = rig.ehr_requests();
    let exit = rig.stop();
    let cpu = cpu_after[0].cpu_percent_since(&cpu_before[0]);
    let rss = mb(cpu_after[0].rss_kb);
    results.rows.push(Row {
        scenario: format!("3. Scale, {connections} connections, idle feeds, every 60 s"),
        measured: format!("RSS {rss:.0} MB, CPU {cpu:.1}% of one core"),
        target: "≤ 256 MB, ≤ 5%".into(),
        met: Some(rss <= 256.0 && cpu <= 5.0),
    });
    results.details.push(format!(
        "**3. Scale**: all {connections} connections had polled once {:.1} s after Courier was \
         spawned (feed requests: {feed_before}); CPU and RSS measured over the next 70 s after a \
         5 s pause, a window holding one full poll round ({} feed requests in it). Peak RSS, \
         start-up burst included: {:.0} MB. {}.{exit}",
        first_round.as_secs_f64(),
        feed_after - feed_before,
        mb(cpu_after[0].peak_rss_kb),
        cpu_note(&cpu_before, &cpu_after),
    ));
}

/// Scenario 5: restart with `total` containers pending, spread over `connections`.
pub fn recovery(bench: &Bench, connections: usize, total: usize, results: &mut Results) {
    let store = bench.work.join("recovery.store");
    let _ = std::fs::remove_dir_all(&store);
    let filled = Instant::now();
    prefill(&store, connections, total);
    let prefill_secs = filled.elapsed().as_secs_f64();
    let setup = Setup::draining(connections);
    let mut rig = bench.rig(
        "recovery",
        &setup,
        &["--feed", "idle", "--payload", "256"],
        Some(store),
    );
    let bound = Duration::from_secs(600);
    let started = Instant::now();
    let mut tally = rig.tally();
    while tally.unique < total as u64 && started.elapsed() < bound {
        assert!(
            !rig.courier.has_exited(),
            "Courier exited during recovery: see recovery.log in the bench's work directory"
        );
        std::thread::sleep(Duration::from_millis(100));
        tally = rig.tally();
    }
    let cpu = rig.samples();
    let spawned = rig.spawned_us;
    let exit = rig.stop();
    let since_spawn = |us: u64| us.saturating_sub(spawned) as f64 / 1e6;
    let first = tally.first_us.map(since_spawn);
    let drained = tally
        .last_us
        .filter(|_| tally.unique >= total as u64)
        .map(since_spawn);
    let first_text = first.map_or("none".to_owned(), |s| format!("{s:.2} s"));
    let drain_text = match drained {
        Some(s) => format!("drained in {s:.0} s ({:.0}/s)", total as f64 / s),
        None => format!(
            "NOT drained within {} s: {} delivered",
            bound.as_secs(),
            tally.unique
        ),
    };
    results.rows.push(Row {
        scenario: format!("5. Recovery, {total} pending containers"),
        measured: format!("first delivery after {first_text}; {drain_text}"),
        target: "first delivery ≤ 5 s".into(),
        met: Some(first.is_some_and(|s| s <= 5.0)),
    });
    results.details.push(format!(
        "**5. Recovery**: {total} containers over {connections} connections written straight \
         into a sled store with `Store::commit_page` ({prefill_secs:.0} s, batches of 5,000); \
         times are from spawning `courier run` on that store (idle feed, 2 enrichment GETs per \
         container). {} duplicates. Courier's peak RSS {:.0} MB, CPU time {:.0} s.{}",
        tally.duplicates,
        mb(cpu[0].peak_rss_kb),
        cpu[0].cpu_secs,
        exit,
    ));
}

/// Writes `total` pending containers for connections `c0001…` as Courier's polls would.
fn prefill(store: &Path, connections: usize, total: usize) {
    const BATCH: usize = 5000;
    actix_rt::System::new().block_on(async {
        let store = Store::open(store).expect("opening the store to pre-fill");
        let per = total / connections;
        let created = now_us();
        for c in 1..=connections {
            let id = connection_id(c);
            let mut state = store.connection_state(&id, "0").await.expect("a state");
            let mut seq = 0usize;
            while seq < per {
                let items: Vec<ChangeItem> = (seq + 1..=(seq + BATCH).min(per))
                    .map(|n| ChangeItem {
                        key: format!("appt-{n}"),
                        version: n.to_string(),
                        cursor: CursorValue(n.to_string()),
                        raw: json!({"seq": n, "id": format!("appt-{n}"),
                                    "patientId": format!("pat-{}", n % 1000 + 1),
                                    "created_us": created}),
                        event_type: "appointment.updated".into(),
                    })
                    .collect();
                seq += items.len();
                let cursor = CursorState::initial("0");
                store
                    .commit_page(&id, &state, &items, cursor.clone(), chrono::Utc::now())
                    .await
                    .expect("pre-filling");
                state = ConnectionState {
                    cursor,
                    next_sequence: state.next_sequence + items.len() as u64,
                };
            }
        }
        store.flush().await.expect("flushing the pre-filled store");
    });
}

fn connection_id(n: usize) -> String {
    format!("c{n:05}")
}

/// Courier's configuration for a scenario, on a sled store in `store`.
pub fn config_toml(store: &Path, ehr: &str, receiver: &str, setup: &Setup) -> String {
    let mut text = format!("[store]\npath = {store:?}\n\n");
    text.push_str(&service_toml(ehr, receiver, setup));
    text
}

/// Everything in a scenario's configuration but the store: the runtime, the receiver as the
/// destination, and the connections.
pub fn service_toml(ehr: &str, receiver: &str, setup: &Setup) -> String {
    let mut text = format!(
        "[runtime]\nshutdown_grace_secs = 5\n\n\
         [destinations.hooks]\nurl = \"{receiver}\"\nsecret_env = \"{SECRET_ENV}\"\n\
         max_in_flight = {}\n\n",
        setup.in_flight
    );
    for n in 1..=setup.connections {
        let id = connection_id(n);
        if setup.source == Source::Fhir {
            text.push_str(&crate::fhir::connection_toml(&id, ehr, setup));
            continue;
        }
        let _ = write!(
            text,
            "[connections.{id}]\ndestination = \"hooks\"\nsource = \"changes\"\n\
             base_url = \"{ehr}\"\ninterval_secs = {}\nchanges_path = \"/changes\"\n\
             page_size_param = \"limit\"\npage_size = {}\nkey_pointer = \"/id\"\n\
             version_pointer = \"/seq\"\ncursor_pointer = \"/seq\"\n\
             event_type = \"appointment.updated\"\nmax_concurrent_enrichments = {}\n\
             [[connections.{id}.enrich]]\nname = \"appointment\"\npath = \"/appointments/{{/id}}\"\n\
             [[connections.{id}.enrich]]\nname = \"patient\"\npath = \"/patients/{{/patientId}}\"\n\n",
            setup.interval_secs, setup.page_size, setup.enrichments
        );
    }
    text
}
