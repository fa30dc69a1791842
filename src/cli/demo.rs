//! `courier demo`: Courier's real actors between a simulated EHR and a local receiver that
//! verifies every signature, so a newcomer sees notifications within seconds and nothing else
//! needs installing. Its admin API (and so the console) listens on loopback, and the
//! simulators inject faults on a fixed script (see `courier_sim::demo_faults`), so retries,
//! destination health, dead letters and semantic event types can be watched and operated.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use chrono::Duration as TimeDelta;
use futures_util::future::{select, Either};

use courier::admin::client::DEFAULT_URL;
use courier::admin::AdminServer;
use courier::app::{stop_signal, App, AppOptions};
use courier::config;
use courier::delivery::signing::SigningKey;
use courier::store::Store;
use courier_sim::demo_faults::CYCLE_SECS;
use courier_sim::{FaultPlan, FaultRun, ReceiverOptions, SimEhr, SimEhrOptions, SimReceiver};

/// The demo's configuration, embedded so the binary needs no file to run it.
pub const DEMO_CONFIG: &str = include_str!("../../config/demo.toml");
/// The demo's configuration with `--source snapshot`: the simulated schedule, listed.
pub const DEMO_SNAPSHOT_CONFIG: &str = include_str!("../../config/demo-snapshot.toml");
/// The demo's configuration with `--source consume-once`: the feed that hands changes out once.
pub const DEMO_CONSUME_ONCE_CONFIG: &str = include_str!("../../config/demo-consume-once.toml");
/// Appointments the simulated schedule starts with for `--source snapshot`, over a week.
const DEMO_SCHEDULE: usize = 200;
/// The fastest change rate the simulated EHR is asked for (one change per 10 µs).
const MAX_CHANGES_PER_SEC: f64 = 100_000.0;
/// How long `--exit-after` waits for its notifications before giving up.
const EXIT_AFTER_TIMEOUT: Duration = Duration::from_secs(120);
/// Appointments of the simulated chart (the changes and consume-once feeds).
const DEMO_APPOINTMENTS: usize = 200;
/// One second of the fault script: the pace a person can follow.
const FAULT_TICK: Duration = Duration::from_secs(1);

/// Options of `courier demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Stop after this many distinct notifications were delivered, print a summary, and exit
    /// 0 only if every one was verified. Faults stay on (unless --calm) and cannot keep it
    /// from N: they delay some notifications and dead-letter one record, never all.
    #[arg(long, value_name = "N")]
    pub exit_after: Option<usize>,
    /// Inject no faults: no poison record, no cancelled and rescheduled appointment, no
    /// receiver outage, no slow receiver.
    #[arg(long)]
    pub calm: bool,
    /// How many appointment changes the simulated EHR makes per second (0 to 100000; below
    /// 0.001, none).
    #[arg(long, default_value_t = 5.0, value_name = "RATE")]
    pub changes_per_sec: f64,
    /// Changes already waiting in the simulated EHR when the demo starts (changes and
    /// consume-once feeds; a snapshot's first listing is its baseline).
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub backlog: usize,
    /// Which kind of EHR API the demo polls: a changes feed, a schedule listed by time window
    /// and compared with the last listing, or a feed that hands each change out once.
    #[arg(long, value_enum, default_value_t = DemoSource::Changes)]
    pub source: DemoSource,
}

/// The sources `courier demo` can show, each against the simulated EHR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DemoSource {
    /// `GET /appointments/changed?since=<seq>`: the EHR says what changed.
    Changes,
    /// `GET /schedule?from=…&to=…`: created, updated, removed and deleted found by comparison.
    Snapshot,
    /// `GET /appointments/changed-once`: each change handed out once, re-read by time window.
    ConsumeOnce,
}

impl DemoSource {
    /// The embedded configuration and the name its errors are reported under.
    fn config(self) -> (&'static str, &'static str) {
        match self {
            DemoSource::Changes => (DEMO_CONFIG, "config/demo.toml"),
            DemoSource::Snapshot => (DEMO_SNAPSHOT_CONFIG, "config/demo-snapshot.toml"),
            DemoSource::ConsumeOnce => (DEMO_CONSUME_ONCE_CONFIG, "config/demo-consume-once.toml"),
        }
    }
}

/// Runs the demo to its end (Ctrl-C, or `--exit-after`).
pub fn run(args: DemoArgs) -> ExitCode {
    actix_rt::System::new().block_on(async move {
        match run_demo(args).await {
            Ok(code) => code,
            Err(message) => {
                eprintln!("courier demo: {message}");
                ExitCode::FAILURE
            }
        }
    })
}

async fn run_demo(args: DemoArgs) -> Result<ExitCode, String> {
    if !(0.0..=MAX_CHANGES_PER_SEC).contains(&args.changes_per_sec) {
        return Err(format!(
            "--changes-per-sec must be between 0 and {MAX_CHANGES_PER_SEC}"
        ));
    }
    let secret = SigningKey::generate_secret();
    let ehr = SimEhr::start(SimEhrOptions {
        patients: 50,
        appointments: DEMO_APPOINTMENTS,
        initial_changes: args.backlog,
        change_every: (args.changes_per_sec >= 1e-3)
            .then(|| Duration::from_secs_f64(1.0 / args.changes_per_sec)),
        seed: fastrand::u64(..),
    })
    .map_err(|err| format!("starting the simulated EHR: {err}"))?;
    if args.source == DemoSource::Snapshot {
        // The ticker reschedules, cancels, deletes and adds appointments of this schedule.
        let week = TimeDelta::days(7);
        ehr.schedule()
            .generate(DEMO_SCHEDULE, TimeDelta::zero(), week);
    }
    let receiver = SimReceiver::start(ReceiverOptions {
        print: true,
        ..ReceiverOptions::new(secret.clone())
    })
    .map_err(|err| format!("starting the receiver: {err}"))?;
    let (template, name) = args.source.config();
    let text = template
        .replace("{demo_ehr}", &ehr.base_url())
        .replace("{demo_receiver}", &receiver.url());
    let env = |name: &str| (name == config::DEMO_SECRET_ENV).then(|| secret.clone());
    let config =
        config::parse(&text, Path::new(name), &env).map_err(|errors| errors.to_string())?;
    let grace = config.runtime.shutdown_grace.min(Duration::from_secs(2));
    let store = Store::temporary().map_err(|err| err.to_string())?;
    let admin = config.admin.clone();
    let listener = bind_admin(admin.listen)?;
    println!(
        "courier demo: polling the simulated EHR at {} and delivering to {} (Ctrl-C to stop)",
        ehr.base_url(),
        receiver.url()
    );
    println!("courier demo: every patient shown is synthetic, made up by the simulated EHR");
    let app = App::start(config, store, AppOptions::default());
    let server = match super::run::start_admin(listener, &app, &admin, None) {
        Ok(server) => server,
        Err(err) => {
            let _ = app.shutdown(grace).await;
            return Err(format!("starting the admin API: {err}"));
        }
    };
    print_operations(&server);
    let faults = (!args.calm).then(|| start_faults(args.source, &ehr, &receiver));
    let reached = match args.exit_after {
        Some(n) => {
            let enough = Box::pin(wait_for_distinct(&receiver, n));
            match select(enough, Box::pin(stop_signal())).await {
                Either::Left((reached, _)) => reached,
                Either::Right(_) => false,
            }
        }
        None => {
            stop_signal().await;
            true
        }
    };
    if let Some(faults) = faults {
        faults.stop();
    }
    server.stop().await;
    // The demo's store is temporary: nothing outlives it either way.
    let _ = app.shutdown(grace).await;
    let summary = receiver.summary();
    let verified = summary.all_verified && summary.delivered > 0;
    println!(
        "courier demo: {summary} verified={}",
        if summary.all_verified {
            "all"
        } else {
            "NOT ALL"
        }
    );
    if summary.delivered == 0 {
        eprintln!("courier demo: stopped before any notification was delivered");
    }
    receiver.stop().await;
    ehr.stop().await;
    Ok(if reached && verified {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Waits until `n` distinct notifications were accepted, or the demo's timeout passes.
async fn wait_for_distinct(receiver: &SimReceiver, n: usize) -> bool {
    let reached = receiver.wait_for_distinct(n, EXIT_AFTER_TIMEOUT).await;
    if !reached {
        let got = receiver.unique_accepted_ids();
        eprintln!("courier demo: only {got} of {n} notifications within {EXIT_AFTER_TIMEOUT:?}");
    }
    reached
}

/// Binds the admin API's usual address (`127.0.0.1:9464`, where `courier status` and
/// `courier dlq` look by default) or, when that is taken (a `courier run`, another demo), a
/// free port on the same loopback address.
fn bind_admin(usual: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(usual)
        .or_else(|_| TcpListener::bind((usual.ip(), 0)))
        .map_err(|err| format!("the admin API cannot listen on {}: {err}", usual.ip()))
}

/// Prints where the console is and the exact commands that reach this demo's admin API.
fn print_operations(server: &AdminServer) {
    let url = server.url();
    let admin = match url == DEFAULT_URL {
        true => String::new(),
        false => format!(" --admin {url}"),
    };
    println!("courier demo: console at {url}/console/");
    println!("courier demo: from another terminal:");
    println!("  courier status{admin}");
    println!("  courier dlq list{admin}");
}

/// Starts the fault script on the simulators, announcing each step as it happens.
fn start_faults(source: DemoSource, ehr: &SimEhr, receiver: &SimReceiver) -> FaultRun {
    let plan = FaultPlan::new(DEMO_APPOINTMENTS).expect("the demo's chart has appointments");
    // A listed schedule does not read the changes log the EHR's steps write to.
    let plan = match source {
        DemoSource::Snapshot => plan.receiver_only(),
        DemoSource::Changes | DemoSource::ConsumeOnce => plan,
    };
    println!(
        "courier demo: faults are injected on a {CYCLE_SECS} s cycle, each announced below \
         (--calm turns them off)"
    );
    FaultRun::start(plan, ehr.control(), receiver.control(), FAULT_TICK, true)
}
