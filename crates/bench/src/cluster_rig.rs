//! The rig of issue 14's benchmarks: a throwaway PostgreSQL of the suite's own on the same
//! cores (so its CPU time is its own, and nothing else's load lands in it), and a cluster of
//! `courier run` instances sharing a fresh database in it, between one load EHR and one
//! counting receiver.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use courier_sim::postgres::{free_port, psql, ThrowawayCluster};

use crate::procs::{tree_cpu_secs, Proc, Sample};
use crate::scenarios::{free_loopback_addr, service_toml, Bench, Setup, SECRET_ENV};

/// The environment variable the cluster's configuration names for the database URL.
const DATABASE_URL_ENV: &str = "BENCH_DATABASE_URL";

/// The suite's PostgreSQL.
pub struct Postgres {
    cluster: ThrowawayCluster,
    /// Its data directory, where `postmaster.pid` says which process is the server.
    data: PathBuf,
}

impl Postgres {
    /// Initialises and starts a cluster in `dir` on a free port.
    pub fn start(dir: &Path) -> Postgres {
        let _ = std::fs::remove_dir_all(dir);
        let port = free_port().expect("a port for PostgreSQL");
        let cluster = ThrowawayCluster::init(dir, port).expect("initialising PostgreSQL");
        cluster.start().expect("starting PostgreSQL");
        Postgres {
            cluster,
            data: dir.join("data"),
        }
    }

    /// A new database `name`; its URL.
    pub fn fresh_database(&self, name: &str) -> String {
        self.cluster
            .create_database(name)
            .unwrap_or_else(|e| panic!("creating database {name}: {e}"));
        self.cluster.url(name)
    }

    /// CPU time (s) the server and its backends have used so far.
    pub fn cpu_secs(&self) -> f64 {
        let pid = std::fs::read_to_string(self.data.join("postmaster.pid"))
            .ok()
            .and_then(|text| text.lines().next()?.trim().parse().ok())
            .expect("the postmaster's pid");
        tree_cpu_secs(pid)
    }
}

/// The load EHR, the counting receiver and `courier run` instances `i1…iN` on one database.
pub struct ClusterRig {
    pub ehr: Proc,
    pub receiver: Proc,
    /// Instance `i<n+1>` at index `n`; `None` while killed.
    pub instances: Vec<Option<Proc>>,
    name: String,
    config: PathBuf,
    url: String,
    connections: usize,
}

impl ClusterRig {
    /// Starts the EHR, the receiver, and `instances` instances on a fresh database.
    pub fn start(
        bench: &Bench,
        pg: &Postgres,
        name: &str,
        setup: &Setup,
        ehr_args: &[&str],
        instances: usize,
        lease_secs: u64,
    ) -> ClusterRig {
        let ehr = bench.ehr(ehr_args);
        let receiver = bench.receiver();
        let url = pg.fresh_database(&name.replace('-', "_"));
        let config = bench.work.join(format!("{name}.toml"));
        let text = format!(
            "[store]\nbackend = \"postgres\"\nurl_env = \"{DATABASE_URL_ENV}\"\n\
             schema = \"courier\"\n\n[cluster]\nlease_secs = {lease_secs}\n\n{}",
            service_toml(&ehr.ready, &receiver.ready, setup)
        );
        std::fs::write(&config, text).expect("writing the configuration");
        let mut rig = ClusterRig {
            ehr,
            receiver,
            instances: (0..instances).map(|_| None).collect(),
            name: name.to_owned(),
            config,
            url,
            connections: setup.connections,
        };
        for index in 0..instances {
            rig.spawn(bench, index);
        }
        rig
    }

    /// Instance `index`'s name.
    pub fn instance(index: usize) -> String {
        format!("i{}", index + 1)
    }

    /// Starts instance `index` (again), logging to `<name>-i<n>.log` (appended).
    pub fn spawn(&mut self, bench: &Bench, index: usize) {
        let instance = Self::instance(index);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(bench.work.join(format!("{}-{instance}.log", self.name)))
            .expect("a log file");
        let mut command = Command::new(&bench.courier);
        command
            .arg("run")
            .arg("--config")
            .arg(&self.config)
            .args(["--instance", &instance, "--admin-listen"])
            .arg(free_loopback_addr().to_string())
            .env(SECRET_ENV, &bench.secret)
            .env(DATABASE_URL_ENV, &self.url)
            .env("RUST_LOG", "warn")
            .stderr(log);
        self.instances[index] = Some(Proc::spawn("courier", command));
    }

    /// SIGKILLs instance `index`.
    pub fn kill(&mut self, index: usize) {
        // Dropping a running Proc SIGKILLs and reaps it.
        drop(self.instances[index].take());
    }

    /// Each connection with the instance holding an unexpired lease on it.
    pub fn owners(&self) -> Vec<(String, String)> {
        let sql = "SELECT connection, owner FROM courier.leases \
                   WHERE owner IS NOT NULL AND expires_at > now() ORDER BY connection";
        psql(&self.url, sql)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| {
                let (connection, owner) = line.split_once('|')?;
                Some((connection.to_owned(), owner.to_owned()))
            })
            .collect()
    }

    /// Waits (up to `within`) until every connection is held by a running instance and they
    /// hold as many each, ± 1; whether that came.
    pub fn wait_balanced(&self, within: Duration) -> bool {
        let running: Vec<String> = (0..self.instances.len())
            .filter(|&i| self.instances[i].is_some())
            .map(Self::instance)
            .collect();
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            let owners = self.owners();
            let counts: Vec<usize> = running
                .iter()
                .map(|name| owners.iter().filter(|(_, o)| o == name).count())
                .collect();
            let (least, most) = (counts.iter().min(), counts.iter().max());
            if counts.iter().sum::<usize>() == self.connections
                && least.zip(most).is_some_and(|(l, m)| m - l <= 1)
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// The instances' CPU time and memory now (killed ones left out).
    pub fn courier_samples(&self) -> Vec<Sample> {
        self.instances.iter().flatten().map(Proc::sample).collect()
    }

    /// Stops every instance with SIGTERM; says which did not exit 0.
    pub fn stop(self) -> String {
        let mut notes = String::new();
        for (index, proc) in self.instances.into_iter().enumerate() {
            if let Some(proc) = proc {
                let code = proc.terminate(Duration::from_secs(20));
                if code != Some(0) {
                    notes.push_str(&format!(
                        " {}'s exit at SIGTERM: {code:?}.",
                        Self::instance(index)
                    ));
                }
            }
        }
        notes
    }
}
