//! `courier-torture`, the crash torture: the real `courier run` binary between a simulated EHR
//! and a flaky receiver (both in this process, on loopback), SIGKILLed and restarted at random
//! moments, with the destination and the EHR down for a while mid-run. At the end it proves
//! that every change arrived, sequences are gap-free and every duplicate kept its id, prints
//! the figures, and exits 1 if any guarantee broke. A crate of its own (`courier-torture`),
//! outside the product; `bench/torture.sh` builds and runs it in release.
//!
//! `--cluster` is issue 14's torture instead (module [`cluster`]): three instances sharing a
//! PostgreSQL store of the torture's own, twelve connections, instances killed and paused
//! past their lease, PostgreSQL restarted once; `bench/cluster-torture.sh` runs it.

mod changes;
mod child;
mod cluster;
mod config;
mod plan;
mod report;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

/// Crash torture of `courier run`: SIGKILLs, a flaky and then dead destination, an EHR
/// answering 503; exits 1 on any loss, gap or id inconsistency.
#[derive(Parser, Debug)]
#[command(version, about)]
pub struct Args {
    /// Total changes the EHR makes [default: 200000, quick: 20000; --cluster: 120000, quick:
    /// 12000, over all its EHRs].
    #[arg(long)]
    pub changes: Option<u64>,
    /// Changes already waiting when Courier first starts; the rest arrive at --rate
    /// [default: half of --changes].
    #[arg(long)]
    pub backlog: Option<u64>,
    /// Changes per second after the backlog [default: 2000, quick: 500; --cluster: 500,
    /// quick: 240].
    #[arg(long)]
    pub rate: Option<f64>,
    /// SIGKILLs, each followed by a restart; with --cluster, the SIGKILLs and SIGSTOP pauses
    /// in all [default: 30; --cluster --quick: 10].
    #[arg(long)]
    pub kills: Option<usize>,
    /// Share of the receiver's answers that are a 500 at random.
    #[arg(long, default_value_t = 0.05)]
    pub failure_rate: f64,
    /// How long the destination answers 503 to everything [default: 60, quick: 6].
    #[arg(long)]
    pub destination_down_secs: Option<f64>,
    /// How long the EHR answers 503 to everything [default: 30, quick: 3].
    #[arg(long)]
    pub ehr_down_secs: Option<f64>,
    /// How long the disk under the store is full (a tmpfs the torture mounts and fills; it
    /// needs root, and the phase is skipped, saying so, without) [default: 20, quick: 3].
    #[arg(long)]
    pub disk_full_secs: Option<f64>,
    /// A smaller, shorter run: 20000 changes, 500 a second, outages a tenth as long.
    #[arg(long)]
    pub quick: bool,
    /// Reads a consume-once feed (issue 15) instead of a changes feed: each read marks what it
    /// returns processed, and every kill but those aimed at the recovery lands while the EHR
    /// holds a read's answer, between the GET and its commit; the recovery window must bring
    /// every such change back.
    #[arg(long)]
    pub consume_once: bool,
    /// The cluster torture of issue 14: `--instances` instances of `courier run` sharing a
    /// PostgreSQL store (a throwaway cluster under --dir), killed, paused past their lease,
    /// and PostgreSQL restarted once. No destination or EHR outage, no disk-full phase.
    #[arg(long)]
    pub cluster: bool,
    /// Instances of the cluster.
    #[arg(long, default_value_t = 3)]
    pub instances: usize,
    /// Connections of the cluster, one simulated EHR each.
    #[arg(long, default_value_t = 12)]
    pub connections: usize,
    /// The cluster's `lease_secs`.
    #[arg(long, default_value_t = 5)]
    pub lease_secs: u64,
    /// Mean seconds between two events of the cluster torture [default: 4, quick: 2.5].
    #[arg(long)]
    pub mean_gap_secs: Option<f64>,
    /// How long PostgreSQL stays down at its restart.
    #[arg(long, default_value_t = 3.0)]
    pub database_down_secs: f64,
    /// How long to wait, after the last kill, for every change to arrive.
    #[arg(long, default_value_t = 600)]
    pub timeout_secs: u64,
    /// Seed of the kill plan [default: random, printed].
    #[arg(long)]
    pub seed: Option<u64>,
    /// The `courier` binary [default: `courier` beside this one].
    #[arg(long)]
    pub courier: Option<PathBuf>,
    /// Working directory for the configuration, the store and the logs [default: a new one
    /// under the system's temporary directory, removed after a passing run].
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// The run's settings once the mode's defaults are applied.
#[derive(Debug, Clone)]
pub struct Settings {
    pub changes: u64,
    pub backlog: u64,
    pub rate: f64,
    pub kills: usize,
    pub failure_rate: f64,
    pub destination_down: Duration,
    pub ehr_down: Duration,
    pub disk_full: Duration,
    pub timeout: Duration,
    pub seed: u64,
    pub courier: PathBuf,
    pub dir: PathBuf,
    /// Whether the directory is ours to remove after a passing run.
    pub temporary_dir: bool,
    /// The cluster torture's shape, with `--cluster`.
    pub cluster: Option<cluster::ClusterSettings>,
    /// `--consume-once`: the connection reads a consume-once feed.
    pub consume_once: bool,
}

impl Settings {
    fn from_args(args: Args) -> Result<Self, String> {
        let cluster = args.cluster.then(|| cluster_settings(&args)).transpose()?;
        if args.cluster && args.consume_once {
            return Err("--consume-once is a mode of the single-instance torture".into());
        }
        let (changes, rate, dest, ehr, disk) = match (args.cluster, args.quick) {
            (false, true) => (20_000, 500.0, 6.0, 3.0, 3.0),
            (false, false) => (200_000, 2_000.0, 60.0, 30.0, 20.0),
            (true, true) => (12_000, 240.0, 0.0, 0.0, 0.0),
            (true, false) => (120_000, 500.0, 0.0, 0.0, 0.0),
        };
        let rate = args.rate.unwrap_or(rate);
        let changes = args.changes.unwrap_or(changes);
        let backlog = args.backlog.unwrap_or(changes / 2);
        if changes == 0 || backlog > changes {
            return Err("--changes must be positive and --backlog at most --changes".into());
        }
        if !(rate > 0.0 && rate <= 100_000.0) {
            return Err("--rate must be in (0, 100000]".into());
        }
        if !(0.0..1.0).contains(&args.failure_rate) {
            return Err("--failure-rate must be in [0, 1)".into());
        }
        let secs = |value: Option<f64>, default: f64| {
            Duration::try_from_secs_f64(value.unwrap_or(default))
                .map_err(|_| "outage lengths must be non-negative seconds".to_owned())
        };
        let courier = match args.courier {
            Some(path) => path,
            None => std::env::current_exe()
                .map_err(|e| format!("locating this binary: {e}"))?
                .with_file_name("courier"),
        };
        let kills = match (args.kills, args.cluster && args.quick) {
            (Some(kills), _) => kills,
            (None, true) => 10,
            (None, false) => 30,
        };
        // Absolute: each courier runs from the torture's directory.
        let courier = courier.canonicalize().unwrap_or(courier);
        let temporary_dir = args.dir.is_none();
        let dir = args.dir.unwrap_or_else(|| {
            std::env::temp_dir().join(format!("courier-torture-{}", std::process::id()))
        });
        Ok(Self {
            changes,
            backlog,
            rate,
            kills,
            failure_rate: args.failure_rate,
            destination_down: secs(args.destination_down_secs, dest)?,
            ehr_down: secs(args.ehr_down_secs, ehr)?,
            disk_full: secs(args.disk_full_secs, disk)?,
            timeout: Duration::from_secs(args.timeout_secs),
            seed: args.seed.unwrap_or_else(|| fastrand::u64(..)),
            courier,
            dir,
            temporary_dir,
            cluster,
            consume_once: args.consume_once,
        })
    }
}

/// The cluster torture's shape from the arguments.
fn cluster_settings(args: &Args) -> Result<cluster::ClusterSettings, String> {
    if args.instances < 2 || args.connections == 0 {
        return Err("--instances must be at least 2 and --connections positive".into());
    }
    if args.lease_secs < 3 {
        return Err("--lease-secs must be at least 3 (Courier's own minimum)".into());
    }
    let gap = args
        .mean_gap_secs
        .unwrap_or(if args.quick { 2.5 } else { 4.0 });
    let secs = |value: f64| {
        Duration::try_from_secs_f64(value)
            .map_err(|_| "--mean-gap-secs and --database-down-secs are seconds".to_owned())
    };
    Ok(cluster::ClusterSettings {
        instances: args.instances,
        connections: args.connections,
        lease_secs: args.lease_secs,
        mean_gap: secs(gap)?,
        database_down: secs(args.database_down_secs)?,
    })
}

fn main() -> ExitCode {
    let settings = match Settings::from_args(Args::parse()) {
        Ok(settings) => settings,
        Err(message) => {
            eprintln!("courier-torture: {message}");
            return ExitCode::from(2);
        }
    };
    if !settings.courier.is_file() {
        eprintln!(
            "courier-torture: no courier binary at {} (build it, or pass --courier)",
            settings.courier.display()
        );
        return ExitCode::from(2);
    }
    let system = actix_rt::System::new();
    let outcome = match settings.cluster.clone() {
        None => system
            .block_on(run::torture(settings.clone()))
            .map(|figures| (figures.render(), figures.failures())),
        Some(shape) => system
            .block_on(cluster::torture(settings.clone(), shape))
            .map(|figures| {
                let report = format!("{}\n{}", figures.render_log(), figures.render());
                (report, figures.failures())
            }),
    };
    let (report, failures) = match outcome {
        Ok(done) => done,
        Err(message) => {
            eprintln!("courier-torture: {message}");
            return ExitCode::from(2);
        }
    };
    println!("{report}");
    if failures.is_empty() {
        println!("RESULT: PASS");
        if settings.temporary_dir {
            let _ = std::fs::remove_dir_all(&settings.dir);
        }
        ExitCode::SUCCESS
    } else {
        for failure in &failures {
            println!("FAILED: {failure}");
        }
        println!(
            "RESULT: FAIL (store and logs kept in {})",
            settings.dir.display()
        );
        ExitCode::FAILURE
    }
}
