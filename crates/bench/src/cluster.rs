//! Issue 14's scenarios: Courier on PostgreSQL. Throughput against an endless backlog with one
//! instance and with three sharing the store, with PostgreSQL's share of the machine's CPU;
//! and the failover time, from a kill -9 of one of three instances to the first delivery of
//! a connection another instance took over, beside the sled figure of the same kill (one
//! instance, restarted at once, as a supervisor would).

use std::time::{Duration, Instant};

use courier_sim::load::now_us;
use courier_sim::TallyReport;

use crate::cluster_rig::{ClusterRig, Postgres};
use crate::procs::{machine_busy_secs, Proc};
use crate::scenarios::{config_toml, mb, per_second_range, tally, Bench, Results, Row, Setup};

/// The throughput target of one instance on PostgreSQL, notifications per second.
const TARGET_RATE: f64 = 10_000.0;
/// The lease of the failover scenario; the target is this plus 2 s.
const FAILOVER_LEASE_SECS: u64 = 5;
/// Connections of the failover scenario: four per instance.
const FAILOVER_CONNECTIONS: usize = 12;
/// A delivery this soon after the kill is one the killed instance had already sent.
const IN_FLIGHT_AT_KILL_US: u64 = 100_000;

/// Throughput of `instances` instances sharing a PostgreSQL store, `connections`
/// connections, an endless backlog: `bench.measure_secs` after the leases are balanced and
/// a 5 s warm-up.
pub fn throughput(
    bench: &Bench,
    pg: &Postgres,
    instances: usize,
    connections: usize,
    results: &mut Results,
) {
    let name = format!("pg-{instances}i-{connections}c");
    let setup = Setup::draining(connections);
    let ehr_args = ["--feed", "backlog", "--payload", "256"];
    let rig = ClusterRig::start(bench, pg, &name, &setup, &ehr_args, instances, 10);
    let balanced = rig.wait_balanced(Duration::from_secs(90));
    std::thread::sleep(Duration::from_secs(5));
    let before = Window::open(&rig, pg);
    std::thread::sleep(Duration::from_secs(bench.measure_secs));
    let after = Window::open(&rig, pg);
    let exit = rig.stop();
    let secs = (after.at_us - before.at_us) as f64 / 1e6;
    let rate = (after.tally.unique - before.tally.unique) as f64 / secs;
    let range = per_second_range(&after.tally, before.at_us, after.at_us).unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let cpu = |a: f64, b: f64| (a - b) / secs * 100.0;
    let pg_cpu = cpu(after.postgres, before.postgres);
    let courier_cpu = cpu(after.courier, before.courier);
    let (ehr, receiver) = (
        cpu(after.ehr, before.ehr),
        cpu(after.receiver, before.receiver),
    );
    let machine = cpu(after.machine, before.machine);
    let others = (machine - pg_cpu - courier_cpu - ehr - receiver).max(0.0);
    let one = instances == 1;
    results.rows.push(Row {
        scenario: format!(
            "7. Throughput on PostgreSQL, endless backlog, {connections} connections, \
             {instances} instance(s)"
        ),
        measured: format!(
            "{rate:.0} notifications/s; PostgreSQL {:.0}% of the {cores:.0} cores",
            pg_cpu / cores
        ),
        target: if one { "≥ 10,000/s" } else { "n/a" }.into(),
        met: one.then_some(rate >= TARGET_RATE),
    });
    results.details.push(format!(
        "**7. PostgreSQL, {instances} instance(s), {connections} connections** (page 1000, \
         max_in_flight 256, lease_secs 10, pool_size 8; PostgreSQL 15 throwaway cluster, fsync \
         on, on the same cores): {rate:.0}/s over {secs:.0} s (per-second min {} / max {}); \
         leases balanced before the window: {}; {} delivered in all, {} duplicates, {} \
         unverified. CPU (% of one core): Courier {courier_cpu:.0} (all instances), PostgreSQL \
         {pg_cpu:.0} ({:.0}% of the machine), load EHR {ehr:.0}, receiver {receiver:.0}, other \
         processes {others:.0}. Courier's peak RSS {:.0} MB (largest instance).{exit}",
        range.0,
        range.1,
        if balanced { "yes" } else { "NO" },
        after.tally.unique,
        after.tally.duplicates,
        after.tally.unverified,
        pg_cpu / cores,
        mb(after.peak_kb),
    ));
}

/// The counts and CPU times at one moment of a measurement.
struct Window {
    at_us: u64,
    tally: TallyReport,
    courier: f64,
    postgres: f64,
    ehr: f64,
    receiver: f64,
    machine: f64,
    peak_kb: u64,
}

impl Window {
    fn open(rig: &ClusterRig, pg: &Postgres) -> Window {
        let couriers = rig.courier_samples();
        Window {
            at_us: now_us(),
            tally: tally(&rig.receiver),
            courier: couriers.iter().map(|s| s.cpu_secs).sum(),
            postgres: pg.cpu_secs(),
            ehr: rig.ehr.sample().cpu_secs,
            receiver: rig.receiver.sample().cpu_secs,
            machine: machine_busy_secs(),
            peak_kb: couriers.iter().map(|s| s.peak_rss_kb).max().unwrap_or(0),
        }
    }
}

/// The failover setup: a steady 100 changes/s on each of 12 connections, polled every second.
fn failover_setup() -> (Setup, [&'static str; 4]) {
    let setup = Setup {
        connections: FAILOVER_CONNECTIONS,
        ..Setup::draining(FAILOVER_CONNECTIONS)
    };
    (setup, ["--feed", "rate:100", "--payload", "256"])
}

/// Failover: `kills` times, a kill -9 of one of three instances (each in turn), and the
/// time until the connections it held deliver again from another instance; the instance is
/// then restarted and the leases rebalanced before the next kill.
pub fn failover(bench: &Bench, pg: &Postgres, kills: usize, results: &mut Results) {
    let (setup, ehr_args) = failover_setup();
    let mut rig = ClusterRig::start(
        bench,
        pg,
        "pg-failover",
        &setup,
        &ehr_args,
        3,
        FAILOVER_LEASE_SECS,
    );
    let mut firsts = Vec::new();
    let mut alls = Vec::new();
    let mut unbalanced = 0;
    for kill in 0..kills {
        if !rig.wait_balanced(Duration::from_secs(90)) {
            unbalanced += 1;
        }
        std::thread::sleep(Duration::from_secs(2));
        let victim = kill % 3;
        let name = ClusterRig::instance(victim);
        let moved: Vec<String> = rig
            .owners()
            .into_iter()
            .filter(|(_, owner)| *owner == name)
            .map(|(connection, _)| connection)
            .collect();
        let killed_us = now_us();
        rig.kill(victim);
        if let Some((first, all)) = resumed(&rig.receiver, &moved, killed_us) {
            eprintln!("courier-bench: failover {kill}: first {first:.2} s, all {all:.2} s");
            firsts.push(first);
            alls.push(all);
        }
        rig.spawn(bench, victim);
    }
    let exit = rig.stop();
    let sled = sled_restart(bench, kills.min(3));
    let target = FAILOVER_LEASE_SECS as f64 + 2.0;
    let (first, all) = (median(&mut firsts), median(&mut alls));
    results.rows.push(Row {
        scenario: format!(
            "8. Failover, kill -9 of 1 of 3 instances, lease_secs {FAILOVER_LEASE_SECS}"
        ),
        measured: format!(
            "first delivery of a moved connection after {} (median of {}); every moved \
             connection after {}; sled, one instance restarted at once: {}",
            secs(first),
            firsts.len(),
            secs(all),
            secs(median(&mut sled.clone())),
        ),
        target: format!("≤ lease_secs + 2 s = {target:.0} s"),
        met: Some(first.is_some_and(|f| f <= target)),
    });
    results.details.push(format!(
        "**8. Failover** ({FAILOVER_CONNECTIONS} connections at 100 changes/s each, \
         interval_secs 1, lease_secs {FAILOVER_LEASE_SECS}, renewed every third): from the \
         kill -9 to the first notification of a connection the killed instance held, \
         delivered by another instance, per kill: {}; to every such connection delivering \
         again: {}. Kills without balanced leases before them: {unbalanced}. sled, the same \
         kill -9 of a lone instance restarted by a supervisor at once, to the first delivery: \
         {}.{exit}",
        list(&firsts),
        list(&alls),
        list(&sled),
    ));
}

/// When the moved connections delivered again after the kill at `killed_us`: (first, last),
/// in seconds; `None` when there were none or one did not deliver within a minute.
fn resumed(receiver: &Proc, moved: &[String], killed_us: u64) -> Option<(f64, f64)> {
    if moved.is_empty() {
        return None;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let since = killed_us + IN_FLIGHT_AT_KILL_US;
    let mut back: Vec<Option<u64>> = vec![None; moved.len()];
    while Instant::now() < deadline && back.iter().any(Option::is_none) {
        let last = tally(receiver).last_us_by_connection;
        for (slot, connection) in back.iter_mut().zip(moved) {
            if slot.is_none() {
                *slot = last.get(connection).copied().filter(|&at| at > since);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let back: Vec<u64> = back.into_iter().collect::<Option<_>>()?;
    let secs = |at: &u64| (at - killed_us) as f64 / 1e6;
    Some((
        back.iter().map(secs).fold(f64::MAX, f64::min),
        back.iter().map(secs).fold(0.0, f64::max),
    ))
}

/// The sled figure beside failover: one instance on sled, killed and restarted at once, until
/// its first connection delivers again; seconds, per kill.
fn sled_restart(bench: &Bench, kills: usize) -> Vec<f64> {
    let (setup, ehr_args) = failover_setup();
    let ehr = bench.ehr(&ehr_args);
    let receiver = bench.receiver();
    let store = bench.work.join("sled-restart.store");
    let _ = std::fs::remove_dir_all(&store);
    let config = bench.work.join("sled-restart.toml");
    let text = config_toml(&store, &ehr.ready, &receiver.ready, &setup);
    std::fs::write(&config, text).expect("writing the configuration");
    let mut courier = Some(bench.courier("sled-restart", &config));
    let connections: Vec<String> = (1..=setup.connections)
        .map(|n| format!("c{n:05}"))
        .collect();
    let mut times = Vec::new();
    for _ in 0..kills {
        std::thread::sleep(Duration::from_secs(5));
        let killed_us = now_us();
        drop(courier.take());
        courier = Some(bench.courier("sled-restart", &config));
        if let Some((first, _)) = resumed(&receiver, &connections, killed_us) {
            times.push(first);
        }
    }
    if let Some(courier) = courier {
        courier.terminate(Duration::from_secs(20));
    }
    times
}

fn median(values: &mut [f64]) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    match values.len() {
        0 => None,
        n if n % 2 == 0 => Some((values[middle - 1] + values[middle]) / 2.0),
        _ => Some(values[middle]),
    }
}

fn secs(value: Option<f64>) -> String {
    value.map_or("none".to_owned(), |s| format!("{s:.2} s"))
}

fn list(values: &[f64]) -> String {
    let items: Vec<String> = values.iter().map(|v| format!("{v:.2}")).collect();
    format!("[{}] s", items.join(", "))
}
