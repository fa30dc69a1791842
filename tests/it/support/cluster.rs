//! A cluster of real `courier run` processes on one PostgreSQL database: one simulated EHR
//! per connection, one receiver, a fresh database, and instances started, killed, paused,
//! continued and stopped by name. The lease table is read with `psql`.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use std::future::ready;

use courier_sim::postgres::{free_port, server, TestDatabase, ThrowawayCluster};
use courier_sim::wait::until;
use courier_sim::{SimEhr, SimEhrOptions, SimReceiver};

use super::app::{config_text, start_receiver, ConnectionSpec, SECRET_ENV};
use super::process::{backlog, Courier};

/// The lease of the test clusters: renewed every second.
pub const LEASE_SECS: u64 = 3;

/// The variable holding the database's URL.
const DB_ENV: &str = "COURIER_TEST_DB_URL";

/// The simulated world of a cluster test and the files its instances run with.
pub struct ClusterRig {
    /// One EHR per connection, in connection order (`conn-1`, `conn-2`, …).
    pub ehrs: Vec<SimEhr>,
    /// The receiver every connection delivers to.
    pub receiver: SimReceiver,
    secret: String,
    /// The server of the database, when the test has one of its own to stop and start
    /// (dropped, and so stopped, before its files in `dir` go).
    pub server: Option<ThrowawayCluster>,
    /// The configuration and the instances' logs.
    pub dir: tempfile::TempDir,
    /// The URL of the database the instances share.
    url: String,
    /// That database, on the tests' server, dropped with the rig.
    _database: Option<TestDatabase>,
    /// The log file of every instance started, by name (a restart appends to it).
    logs: BTreeMap<String, PathBuf>,
}

impl ClusterRig {
    /// `connections` connections, each with `changes` changes waiting in its EHR.
    pub fn new(hint: &str, connections: usize, changes: usize) -> Self {
        Self::with(hint, connections, backlog(changes))
    }

    /// `connections` connections whose EHRs start with `options`.
    pub fn with(hint: &str, connections: usize, options: SimEhrOptions) -> Self {
        let ehrs: Vec<SimEhr> = (0..connections)
            .map(|_| SimEhr::start(options.clone()).expect("simulated EHR starts"))
            .collect();
        let database = server().fresh_database(hint);
        Self::on(ehrs, database.url.clone(), Some(database), None)
    }

    /// [`ClusterRig::new`] on a PostgreSQL server of the test's own, which it may stop and
    /// start ([`ClusterRig::server`]).
    pub fn with_own_server(connections: usize, changes: usize) -> Self {
        let ehrs: Vec<SimEhr> = (0..connections)
            .map(|_| SimEhr::start(backlog(changes)).expect("simulated EHR starts"))
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let port = free_port().expect("a free port");
        let pg = ThrowawayCluster::init(&dir.path().join("pg"), port).expect("initdb");
        pg.start().expect("the test's PostgreSQL starts");
        pg.create_database("courier").expect("a database");
        let mut rig = Self::on(ehrs, pg.url("courier"), None, Some(pg));
        // The server's files live as long as the rig: in its directory.
        rig.dir = dir;
        rig.write_config();
        rig
    }

    fn on(
        ehrs: Vec<SimEhr>,
        url: String,
        database: Option<TestDatabase>,
        server: Option<ThrowawayCluster>,
    ) -> Self {
        let (receiver, secret) = start_receiver();
        let rig = Self {
            ehrs,
            receiver,
            secret,
            dir: tempfile::tempdir().unwrap(),
            url,
            _database: database,
            server,
            logs: BTreeMap::new(),
        };
        rig.write_config();
        rig
    }

    /// One more connection, with an EHR of its own, in the configuration file (which the
    /// running instances read at their next SIGHUP).
    pub fn add_connection(&mut self, options: SimEhrOptions) -> String {
        self.ehrs
            .push(SimEhr::start(options).expect("simulated EHR starts"));
        self.write_config();
        format!("conn-{}", self.ehrs.len())
    }

    /// Writes `courier.toml`: the shared database, a 3 s lease, and the connections.
    fn write_config(&self) {
        let specs: Vec<ConnectionSpec> = self
            .ehrs
            .iter()
            .enumerate()
            .map(|(i, ehr)| ConnectionSpec::new(&format!("conn-{}", i + 1), ehr))
            .collect();
        let store = self.dir.path().join("unused");
        let sled = format!("[store]\npath = {:?}\n", store.display().to_string());
        let text = config_text(&store, &self.receiver.url(), "", &specs).replacen(
            &sled,
            &format!(
                "[store]\nbackend = \"postgres\"\nurl_env = {DB_ENV:?}\npool_size = 4\n\n\
                 [cluster]\nlease_secs = {LEASE_SECS}\n"
            ),
            1,
        );
        assert!(text.contains("backend = \"postgres\""), "{text}");
        std::fs::write(self.dir.path().join("courier.toml"), text).unwrap();
    }

    /// Starts `courier run --instance name` with an admin API on a port of its own.
    pub fn start(&mut self, name: &str) -> Instance {
        let log = self.dir.path().join(format!("{name}.log"));
        let file = File::options()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_courier"))
            .args(["run", "--config"])
            .arg(self.dir.path().join("courier.toml"))
            .args(["--instance", name, "--admin-listen", "127.0.0.1:0"])
            .current_dir(self.dir.path())
            .env_clear()
            .env(SECRET_ENV, &self.secret)
            .env(DB_ENV, &self.url)
            .env("RUST_LOG", "info")
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .expect("the courier binary starts");
        self.logs.insert(name.to_owned(), log);
        Courier::of(child)
    }

    /// What instance `name` logged so far.
    pub fn log_of(&self, name: &str) -> String {
        let path = &self.logs[name];
        std::fs::read_to_string(path).unwrap_or_default()
    }

    /// Runs `sql` on the shared database; answers its rows, one per line, fields split by `|`.
    pub fn query(&self, sql: &str) -> String {
        self.try_query(sql)
            .unwrap_or_else(|err| panic!("psql -c {sql:?} failed: {err}"))
    }

    /// [`ClusterRig::query`], answering psql's complaint when it fails (the schema is
    /// created by the first instance to start).
    fn try_query(&self, sql: &str) -> Result<String, String> {
        let out = Command::new("psql")
            .args([self.url.as_str(), "-qAt", "-c", sql])
            .output()
            .expect("psql runs");
        match out.status.success() {
            true => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
            false => Err(String::from_utf8_lossy(&out.stderr).into_owned()),
        }
    }

    /// Who holds each connection's lease now (not lapsed), by connection; none before the
    /// first instance created the schema.
    pub fn holders(&self) -> BTreeMap<String, String> {
        let rows = self.try_query(
            "SELECT connection, owner FROM courier.leases \
             WHERE owner IS NOT NULL AND expires_at > now()",
        );
        rows.unwrap_or_default()
            .lines()
            .filter_map(|line| line.split_once('|'))
            .map(|(c, o)| (c.to_owned(), o.to_owned()))
            .collect()
    }

    /// How many connections each instance holds now.
    pub fn shares(&self) -> BTreeMap<String, usize> {
        let mut shares = BTreeMap::new();
        for owner in self.holders().into_values() {
            *shares.entry(owner).or_default() += 1;
        }
        shares
    }

    /// Whether every change of every EHR was delivered, and nothing else: per connection,
    /// distinct ids = changes, sequences exactly 1..=changes, one id per sequence and per
    /// change, every signature verified.
    pub fn all_delivered(&self) -> bool {
        let audit = self.receiver.audit();
        audit.is_clean()
            && self.receiver.summary().all_verified
            && self.ehrs.iter().enumerate().all(|(i, ehr)| {
                let changes = ehr.change_count();
                audit
                    .connections
                    .get(&format!("conn-{}", i + 1))
                    .is_some_and(|c| c.delivered as u64 == changes && c.highest_sequence == changes)
            })
    }

    /// Makes `each` more changes on every EHR, then waits until everything was delivered
    /// ([`ClusterRig::all_delivered`]): the feeds still flow, whoever owns them now.
    pub async fn changes_delivered(&self, each: usize) {
        for ehr in &self.ehrs {
            ehr.touch_each(each);
        }
        wait_for("every change delivered", CLUSTER_PATIENCE, || {
            self.all_delivered()
        })
        .await;
    }

    /// Every instance's log, for a failing test's output.
    fn all_logs(&self) -> String {
        let names = self.logs.keys();
        names
            .map(|name| format!("----- {name}:\n{}", self.log_of(name)))
            .collect()
    }
}

impl Drop for ClusterRig {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.all_logs());
            let leases = self.try_query("SELECT * FROM courier.leases");
            eprintln!("----- leases:\n{}", leases.unwrap_or_else(|err| err));
        }
    }
}

/// One running instance: a `courier run` like any other (SIGKILLed when dropped).
pub type Instance = Courier;

/// Long enough for anything a cluster test waits for: several leases.
pub const CLUSTER_PATIENCE: Duration = Duration::from_secs(30);

/// Waits until `condition` holds, looking every 100 ms (it may run `psql`); panics naming
/// `what` after `within`.
pub async fn wait_for(what: &str, within: Duration, mut condition: impl FnMut() -> bool) {
    let held = until(within, Duration::from_millis(100), || {
        ready(condition().then_some(()))
    })
    .await;
    assert!(
        held.is_some(),
        "timed out after {within:?} waiting for {what}"
    );
}
