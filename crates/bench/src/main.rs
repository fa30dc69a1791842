//! `courier-bench`: the benchmark suite of issue 6 (see BENCHMARKS.md). One command builds it
//! and `courier` in release, runs every scenario and writes a Markdown table:
//!
//! ```sh
//! benches/run.sh                 # all scenarios
//! benches/run.sh run --only latency
//! benches/run.sh run --only fhir --measure-secs 10
//! benches/run.sh run --only throughput --admin-scrape-ms 100
//! benches/run.sh run --only postgres --only failover   # issue 14: Courier on PostgreSQL
//! benches/run.sh run --only snapshot   # issue 15: a 100,000-record window listed
//! benches/run.sh run --only console    # issue 16: the console with 10,000 connections
//! ```
//!
//! The same binary is the load EHR (`ehr`) and the counting receiver (`receiver`), which the
//! `run` subcommand starts as processes of their own next to `courier run`, so Courier's CPU
//! time and memory are its own. Benchmarks write results; they assert nothing.

mod cluster;
mod cluster_rig;
mod console;
mod fhir;
mod procs;
mod scenarios;
mod snapshot;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use courier_sim::{CountingReceiver, LoadEhr, LoadEhrOptions, LoadFeed};
use courier_wire::SigningKey;

use procs::first_line_with;
use scenarios::{Bench, Results};

/// Courier's benchmark suite.
#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the scenarios and write the results table.
    Run(RunArgs),
    /// Serve the load EHR until killed; prints `READY <base url>`.
    Ehr(EhrArgs),
    /// Serve the counting receiver until killed (secret in BENCH_SECRET); prints `READY <url>`.
    Receiver {
        #[arg(long, default_value_t = 2)]
        workers: usize,
    },
    /// Serve the simulated EHR's schedule (a window of appointments) and a control port until
    /// killed; prints `READY <base url> <control url>` (the snapshot scenario's EHR).
    Schedule {
        #[arg(long, default_value_t = snapshot::WINDOW_RECORDS)]
        records: usize,
    },
    /// Print the configuration scenario 1 gives Courier (for `benches/cost.sh`).
    Config(ConfigArgs),
}

#[derive(clap::Args)]
struct ConfigArgs {
    /// The load EHR's base URL.
    #[arg(long)]
    ehr: String,
    /// The receiver's URL.
    #[arg(long)]
    receiver: String,
    /// The store directory.
    #[arg(long)]
    store: PathBuf,
    #[arg(long, default_value_t = 1)]
    connections: usize,
    /// The source scenario 1 polls: `changes` (the feed) or `fhir` (the search).
    #[arg(long, default_value = "changes")]
    source: String,
}

#[derive(clap::Args)]
struct RunArgs {
    /// Only these scenarios: throughput, fhir, latency, scale, recovery, postgres, failover,
    /// snapshot, console (repeatable).
    #[arg(long)]
    only: Vec<String>,
    /// Where the Markdown results go.
    #[arg(long, default_value = "target/courier-bench/results.md")]
    out: PathBuf,
    /// Seconds each throughput and latency run measures, after its warm-up.
    #[arg(long, default_value_t = 30)]
    measure_secs: u64,
    /// Connections of the scale scenario.
    #[arg(long, default_value_t = 10_000)]
    scale_connections: usize,
    /// Connections of the console scenario.
    #[arg(long, default_value_t = console::CONNECTIONS)]
    console_connections: usize,
    /// Pending containers of the recovery scenario.
    #[arg(long, default_value_t = 1_000_000)]
    recovery_containers: usize,
    /// The courier binary (by default `courier` beside this binary: the same cargo build).
    #[arg(long)]
    courier: Option<PathBuf>,
    /// During the throughput measurement, scrape the admin API's /metrics and /status every
    /// this many milliseconds (the admin API's overhead under load).
    #[arg(long)]
    admin_scrape_ms: Option<u64>,
    /// Runs of each throughput scenario (1 connection, 16, FHIR); the table gives the median
    /// of the runs and the notes each run.
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// Kills of the failover scenario; the table gives the median.
    #[arg(long, default_value_t = 5)]
    failover_kills: usize,
}

#[derive(clap::Args)]
struct EhrArgs {
    /// `backlog` (endless), `idle`, or `rate:<changes per second>`.
    #[arg(long, default_value = "backlog")]
    feed: String,
    /// Padding of each detail record, bytes.
    #[arg(long, default_value_t = 256)]
    payload: usize,
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    #[arg(long, default_value_t = 0)]
    jitter_ms: u64,
    /// Fraction of requests answered 503.
    #[arg(long, default_value_t = 0.0)]
    error_rate: f64,
    #[arg(long, default_value_t = 2)]
    workers: usize,
}

fn main() {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or_else(|| {
        Cli::parse_from(["courier-bench", "run"])
            .command
            .expect("run parses")
    });
    match command {
        Cmd::Run(args) => run(args),
        Cmd::Ehr(args) => serve_ehr(args),
        Cmd::Receiver { workers } => serve_receiver(workers),
        Cmd::Schedule { records } => snapshot::serve(records),
        Cmd::Config(args) => {
            let source = match args.source.as_str() {
                "changes" => scenarios::Source::Changes,
                "fhir" => scenarios::Source::Fhir,
                other => panic!("--source is changes or fhir, not {other:?}"),
            };
            let setup = scenarios::Setup {
                source,
                ..scenarios::Setup::draining(args.connections)
            };
            print!(
                "{}",
                scenarios::config_toml(&args.store, &args.ehr, &args.receiver, &setup)
            );
        }
    }
}

fn serve_ehr(args: EhrArgs) {
    let feed = match args.feed.as_str() {
        "backlog" => LoadFeed::Backlog,
        "idle" => LoadFeed::Idle,
        other => LoadFeed::Rate {
            per_sec: other
                .strip_prefix("rate:")
                .and_then(|r| r.parse().ok())
                .expect("--feed is backlog, idle or rate:<per second>"),
        },
    };
    let options = LoadEhrOptions {
        feed,
        payload_bytes: args.payload,
        latency: Duration::from_millis(args.latency_ms),
        jitter: Duration::from_millis(args.jitter_ms),
        error_rate: args.error_rate,
        workers: args.workers,
        ..LoadEhrOptions::default()
    };
    actix_rt::System::new().block_on(async move {
        let ehr = LoadEhr::start(options).expect("starting the load EHR");
        println!("READY {}", ehr.base_url());
        std::future::pending::<()>().await;
    });
}

fn serve_receiver(workers: usize) {
    let secret = std::env::var("BENCH_SECRET").expect("BENCH_SECRET holds the secret");
    actix_rt::System::new().block_on(async move {
        let receiver = CountingReceiver::start(&secret, workers).expect("starting the receiver");
        println!("READY {}", receiver.url());
        std::future::pending::<()>().await;
    });
}

fn run(args: RunArgs) {
    let courier = args.courier.unwrap_or_else(|| {
        std::env::current_exe()
            .expect("this binary")
            .with_file_name("courier")
    });
    let work = std::env::temp_dir().join(format!("courier-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work).expect("a work directory");
    let bench = Bench {
        courier,
        harness: std::env::current_exe().expect("this binary"),
        work: work.clone(),
        secret: SigningKey::generate_secret(),
        measure_secs: args.measure_secs,
        admin_scrape: args.admin_scrape_ms.map(Duration::from_millis),
        repeat: args.repeat,
    };
    let wanted = |name: &str| args.only.is_empty() || args.only.iter().any(|o| o == name);
    let mut results = Results::default();
    if wanted("throughput") {
        let mut peaks = Vec::new();
        for connections in [1, 16] {
            eprintln!("courier-bench: throughput, {connections} connection(s)");
            peaks.push((
                connections,
                scenarios::throughput(&bench, connections, &mut results),
            ));
        }
        scenarios::peak_memory(&peaks, &mut results);
    }
    if wanted("fhir") {
        eprintln!("courier-bench: throughput, FHIR search, 1 connection");
        fhir::throughput(&bench, &mut results);
    }
    if wanted("latency") {
        eprintln!("courier-bench: latency");
        scenarios::latency(&bench, &mut results);
    }
    if wanted("scale") {
        eprintln!("courier-bench: scale");
        scenarios::scale(&bench, args.scale_connections, &mut results);
    }
    if wanted("recovery") {
        eprintln!("courier-bench: recovery");
        scenarios::recovery(&bench, 16, args.recovery_containers, &mut results);
    }
    if wanted("snapshot") {
        eprintln!("courier-bench: snapshot listing of a 100,000-record window");
        snapshot::scenario(&bench, &mut results);
    }
    if wanted("console") {
        eprintln!(
            "courier-bench: console, {} connections",
            args.console_connections
        );
        console::scenario(&bench, args.console_connections, &mut results);
    }
    if wanted("postgres") || wanted("failover") {
        let pg = cluster_rig::Postgres::start(&work.join("postgres"));
        if wanted("postgres") {
            if !wanted("throughput") {
                eprintln!("courier-bench: throughput, 16 connections, sled (beside PostgreSQL)");
                scenarios::throughput(&bench, 16, &mut results);
            }
            for instances in [1, 3] {
                eprintln!("courier-bench: throughput on PostgreSQL, {instances} instance(s)");
                cluster::throughput(&bench, &pg, instances, 16, &mut results);
            }
        }
        if wanted("failover") {
            eprintln!("courier-bench: failover");
            cluster::failover(&bench, &pg, args.failover_kills, &mut results);
        }
    }
    let report = report(&results);
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir).expect("the output directory");
    }
    std::fs::write(&args.out, &report).expect("writing the results");
    println!("{report}");
    eprintln!("courier-bench: written to {}", args.out.display());
    let _ = std::fs::remove_dir_all(&work);
}

/// The Markdown results: machine, date, commit, the table, then the notes.
fn report(results: &Results) -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpu = first_line_with("/proc/cpuinfo".as_ref(), "model name").unwrap_or_default();
    let memory = first_line_with("/proc/meminfo".as_ref(), "MemTotal").unwrap_or_default();
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    };
    let dirty = if git(&["status", "--porcelain", "--untracked-files=no"]).is_empty() {
        ""
    } else {
        " (with uncommitted changes)"
    };
    let mut text = format!(
        "Machine: {cores} cores, {cpu}, {memory} RAM; the load EHR and the receiver run on the \
         same cores as Courier.  \nDate: {}  \nCommit: {}{dirty}\n\n\
         | scenario | measured | target | met |\n|---|---|---|---|\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        git(&["rev-parse", "--short", "HEAD"]),
    );
    for row in &results.rows {
        let met = match row.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "n/a",
        };
        text.push_str(&format!(
            "| {} | {} | {} | {met} |\n",
            row.scenario, row.measured, row.target
        ));
    }
    text.push('\n');
    for detail in &results.details {
        text.push_str(&format!("- {detail}\n"));
    }
    text
}
