//! The cluster torture (issue 14): several `courier run` instances sharing one PostgreSQL
//! store (a throwaway cluster of the torture's own), one connection per simulated EHR, a
//! receiver failing at random; a seeded plan kills instances with SIGKILL, pauses them with
//! SIGSTOP past their lease, and restarts PostgreSQL once. At the end the receiver's ledger
//! and the store itself must show every change delivered, gap-free sequences per connection,
//! one id per change, and no write from an instance that had lost its lease.

mod database;
mod instances;
mod plan;
mod report;
mod run;

use std::rc::Rc;
use std::time::{Duration, Instant};

use courier_sim::{ReceiverOptions, SimEhr, SimEhrOptions, SimReceiver};
use courier_wire::SigningKey;

use crate::changes::{generate, missing_versions};
use crate::child::{scan_logs, Launcher};
use crate::config::DATABASE_URL_ENV;
use crate::Settings;
use database::Database;
use instances::{Exits, Instance};
use plan::{plan, Shape};
pub use report::ClusterFigures;
use report::ResumeRecord;
use run::Run;

/// At the end, every instance must have run this long: a start refused (the killed run's
/// name still live) exits well within it, and is retried, before the final stop.
const SETTLED_UPTIME: Duration = Duration::from_secs(3);
/// How long each instance's final SIGTERM may take.
const STOP_WITHIN: Duration = Duration::from_secs(30);
/// Appointments and patients of each simulated EHR.
const APPOINTMENTS: usize = 2_000;
const PATIENTS: usize = 500;

/// The cluster's shape and its faults.
#[derive(Debug, Clone)]
pub struct ClusterSettings {
    /// `courier run` instances.
    pub instances: usize,
    /// Connections, one simulated EHR each.
    pub connections: usize,
    /// `[cluster] lease_secs`.
    pub lease_secs: u64,
    /// Mean time between two events.
    pub mean_gap: Duration,
    /// How long PostgreSQL stays down at its restart.
    pub database_down: Duration,
}

/// Runs the cluster torture to its end and returns what it measured.
pub async fn torture(s: Settings, c: ClusterSettings) -> Result<ClusterFigures, String> {
    let pg_dir = s.dir.join("pg");
    if pg_dir.exists() {
        return Err(format!(
            "{} already holds a run; give a new --dir",
            s.dir.display()
        ));
    }
    std::fs::create_dir_all(s.dir.join("logs"))
        .map_err(|e| format!("creating {}: {e}", s.dir.display()))?;
    let database = Database::start(&pg_dir)?;
    let ehrs = start_ehrs(&s, c.connections)?;
    let secret = SigningKey::generate_secret();
    let receiver = SimReceiver::start(ReceiverOptions {
        keep_requests: false,
        ..ReceiverOptions::new(secret.clone())
    })
    .map_err(|e| format!("starting the receiver: {e}"))?;
    receiver.fail_randomly(s.failure_rate);
    let feeds: Vec<(String, String)> = ehrs
        .iter()
        .enumerate()
        .map(|(i, ehr)| (connection_id(i), ehr.base_url()))
        .collect();
    let config = crate::config::cluster(c.lease_secs, &feeds, &receiver.url());
    std::fs::write(s.dir.join("courier.toml"), config).map_err(|e| e.to_string())?;
    let shape = Shape {
        events: s.kills,
        instances: c.instances,
        lease: Duration::from_secs(c.lease_secs),
        mean_gap: c.mean_gap,
        database_down: c.database_down,
    };
    let events = plan(shape, &mut fastrand::Rng::with_seed(s.seed));
    eprintln!(
        "courier-torture --cluster: seed {}, {} instances, {} connections, lease {} s, {} \
         changes ({} backlog), {} events; working in {}",
        s.seed,
        c.instances,
        c.connections,
        c.lease_secs,
        s.changes,
        s.backlog,
        events.len(),
        s.dir.display()
    );

    let started = Instant::now();
    let controls = ehrs.iter().map(|ehr| ehr.control()).collect();
    let generator = actix_rt::spawn(generate(controls, s.changes - s.backlog, s.rate, s.seed));
    let mut run = Run {
        instances: start_instances(&s, c.instances, &secret, database.url())?,
        receiver: receiver.control(),
        database: Rc::new(database),
        started,
        events: Vec::new(),
        exits: Exits::default(),
        database_restart: None,
        database_back: None,
        last_report: Instant::now(),
        changes: s.changes,
    };
    for event in &events {
        run.wait(event.after).await?;
        run.apply(event).await?;
    }
    let deadline = Instant::now() + s.timeout;
    let target = s.changes as usize;
    let completed = run
        .wait_until(deadline, |run| {
            run.receiver.unique_accepted_ids() >= target
                && run
                    .instances
                    .iter()
                    .all(|i| i.is_running() && i.uptime() >= SETTLED_UPTIME)
                && run
                    .database_restart
                    .as_ref()
                    .is_none_or(|r| r.is_finished())
        })
        .await?;
    let drained_after = completed.then(|| started.elapsed());
    run.settle().await?;
    generator.abort();
    let database_back = match run.database_restart.take() {
        Some(restart) => Some(restart.await.map_err(|e| e.to_string()).and_then(|r| r)),
        None => None,
    };
    let mut final_exits = Vec::new();
    for instance in &mut run.instances {
        final_exits.push((instance.name.clone(), instance.terminate(STOP_WITHIN).await));
    }
    let mut figures = run.figures(&s, &c, &ehrs, completed, final_exits, drained_after)?;
    figures.database_back = database_back;
    Ok(figures)
}

/// The connection of EHR number `index`.
fn connection_id(index: usize) -> String {
    format!("clinic-{:02}", index + 1)
}

/// One simulated EHR per connection, each with its share of the backlog.
fn start_ehrs(s: &Settings, connections: usize) -> Result<Vec<SimEhr>, String> {
    (0..connections)
        .map(|i| {
            let share = s.backlog / connections as u64
                + u64::from((i as u64) < s.backlog % connections as u64);
            SimEhr::start(SimEhrOptions {
                patients: PATIENTS,
                appointments: APPOINTMENTS,
                initial_changes: share as usize,
                change_every: None,
                seed: s.seed.wrapping_add(i as u64),
            })
            .map_err(|e| format!("starting simulated EHR {i}: {e}"))
        })
        .collect()
}

/// Instances `i1`…`iN`, each with its own admin API on a port of the system's choosing.
fn start_instances(
    s: &Settings,
    count: usize,
    secret: &str,
    url: &str,
) -> Result<Vec<Instance>, String> {
    (1..=count)
        .map(|n| {
            let name = format!("i{n}");
            let launcher = Launcher {
                binary: s.courier.clone(),
                dir: s.dir.clone(),
                secret: secret.to_owned(),
                name: name.clone(),
                args: vec![
                    "--instance".into(),
                    name.clone(),
                    "--admin-listen".into(),
                    "127.0.0.1:0".into(),
                ],
                env: vec![(DATABASE_URL_ENV.to_owned(), url.to_owned())],
                logs: Vec::new(),
            };
            Instance::start(name, launcher)
        })
        .collect()
}

impl Run {
    /// Audits the ledger, the store and the logs.
    fn figures(
        self,
        s: &Settings,
        c: &ClusterSettings,
        ehrs: &[SimEhr],
        completed: bool,
        final_exits: Vec<(String, String)>,
        drained_after: Option<Duration>,
    ) -> Result<ClusterFigures, String> {
        let per_connection: Vec<(String, u64)> = ehrs
            .iter()
            .enumerate()
            .map(|(i, ehr)| (connection_id(i), ehr.change_count()))
            .collect();
        let mut missing = courier_sim::Problems::default();
        for (connection, changes) in &per_connection {
            let gaps = missing_versions(&self.receiver, connection, *changes);
            missing.count += gaps.count;
            missing.examples.extend(gaps.examples.into_iter().take(10));
        }
        let logs: Vec<_> = self
            .instances
            .iter()
            .flat_map(|i| i.launcher.logs.iter().cloned())
            .collect();
        let scan = scan_logs(&logs);
        let (expected_errors, errors) = scan.errors.into_iter().partition(|l| is_expected(l));
        let resumes = self
            .instances
            .iter()
            .flat_map(|i| i.resumes.iter())
            .map(|r| ResumeRecord {
                instance: r.instance.clone(),
                at_secs: r.at_secs,
                paused: r.paused,
                lease_lines: lease_lines_after(&r.log, r.offset),
            })
            .collect();
        Ok(ClusterFigures {
            changes: per_connection.iter().map(|(_, n)| n).sum(),
            planned_changes: s.changes,
            backlog: s.backlog,
            rate: s.rate,
            failure_rate: s.failure_rate,
            instances: c.instances,
            connections: c.connections,
            lease_secs: c.lease_secs,
            summary: self.receiver.summary(),
            audit: self.receiver.audit(),
            store: self.database.audit(&per_connection),
            per_connection,
            missing_versions: missing,
            events: self.events,
            resumes,
            restarts: self.instances.iter().map(|i| i.restarts).sum(),
            unexpected_exits: self.exits.unexpected,
            database_down_exits: self.exits.database_down,
            name_still_live_exits: self.exits.name_still_live,
            database_back: None,
            completed,
            final_exits,
            panics: scan.panics,
            expected_errors,
            errors,
            elapsed: self.started.elapsed(),
            drained_after,
        })
    }
}

/// An `ERROR` line the planned faults explain: the database was down (the instances cannot
/// reach it, their leases lapse) — what an operator must hear about.
fn is_expected(line: &str) -> bool {
    let line = line.to_ascii_lowercase();
    [
        "database",
        "postgres",
        "lease",
        "fenced",
        "connection refused",
    ]
    .iter()
    .any(|word| line.contains(word))
}

/// Lines of `log` after byte `offset` that say a lease was lost, a connection stopped for
/// want of its lease, or a write was refused by the fence.
fn lease_lines_after(log: &std::path::Path, offset: u64) -> usize {
    let text = std::fs::read(log).unwrap_or_default();
    let after = text.get(offset as usize..).unwrap_or_default();
    String::from_utf8_lossy(after)
        .lines()
        .filter(|line| {
            ["lost lease", "no longer holds its lease", "is fenced"]
                .iter()
                .any(|words| line.contains(words))
        })
        .count()
}
