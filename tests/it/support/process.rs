//! Running the real `courier run` binary against the simulated EHR and receiver of a test:
//! start it, SIGKILL it, SIGTERM it, and read what it logged.

use std::fs::File;
use std::future::ready;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use courier::store::Store;
use courier_sim::{SimEhr, SimEhrOptions, SimReceiver};

use super::app::{config_text, start_receiver, ConnectionSpec, SECRET_ENV};
use courier_sim::wait::until;

/// How long a graceful stop may take: the test configuration's 2 s shutdown grace, plus
/// start-up and flushing.
pub const STOP_WITHIN: Duration = Duration::from_secs(5);

/// An EHR with `changes` already waiting when Courier first starts.
pub fn backlog(changes: usize) -> SimEhrOptions {
    SimEhrOptions {
        patients: 10,
        appointments: 50,
        initial_changes: changes,
        ..SimEhrOptions::default()
    }
}

/// The simulated EHR and receiver of one test, and the files `courier run` is started with.
pub struct Rig {
    /// The simulated EHR.
    pub ehr: SimEhr,
    /// The receiver.
    pub receiver: SimReceiver,
    /// The destination secret.
    pub secret: String,
    /// Configuration, store and logs.
    pub dir: tempfile::TempDir,
    /// `RUST_LOG` of the runs.
    pub log_filter: &'static str,
    /// More environment variables of the runs (secrets the configuration names).
    pub env: Vec<(&'static str, String)>,
    /// The log files of every run so far; printed when the test fails.
    logs: Vec<PathBuf>,
}

impl Rig {
    /// Starts the EHR and the receiver and writes `courier.toml` for one connection
    /// `clinic-a`, with the store in the test's temporary directory.
    pub fn new(ehr_options: SimEhrOptions, destination_extra: &str) -> Rig {
        let ehr = SimEhr::start(ehr_options).expect("simulated EHR starts");
        let (receiver, secret) = start_receiver();
        let dir = tempfile::tempdir().unwrap();
        let connection = ConnectionSpec::new("clinic-a", &ehr);
        let text = config_text(
            &dir.path().join("store"),
            &receiver.url(),
            destination_extra,
            &[connection],
        );
        std::fs::write(dir.path().join("courier.toml"), text).unwrap();
        Rig {
            ehr,
            receiver,
            secret,
            dir,
            logs: Vec::new(),
            log_filter: "warn",
            env: Vec::new(),
        }
    }

    /// Starts `courier run` on this rig's configuration and store, logging to files.
    pub fn start(&mut self) -> Courier {
        self.start_with(&[])
    }

    /// Starts `courier run` with `options` after its configuration, logging to files.
    pub fn start_with(&mut self, options: &[&str]) -> Courier {
        let run = self.logs.len() / 2 + 1;
        let out = self.dir.path().join(format!("run-{run}.stdout"));
        let err = self.dir.path().join(format!("run-{run}.stderr"));
        let child = Command::new(env!("CARGO_BIN_EXE_courier"))
            .arg("run")
            .arg("--config")
            .arg(self.dir.path().join("courier.toml"))
            .args(options)
            .current_dir(self.dir.path())
            .env_clear()
            .env(SECRET_ENV, &self.secret)
            .env("RUST_LOG", self.log_filter)
            .envs(self.env.iter().map(|(name, value)| (name, value)))
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(File::create(&out).unwrap())
            .stderr(File::create(&err).unwrap())
            .spawn()
            .expect("the courier binary starts");
        self.logs.extend([out, err]);
        Courier { child }
    }

    /// Requests the receiver got so far, accepted or not.
    pub fn requests(&self) -> usize {
        let summary = self.receiver.summary();
        summary.delivered + summary.duplicates + summary.failures
    }

    /// Distinct notification ids the receiver acknowledged.
    pub fn delivered(&self) -> usize {
        self.receiver.unique_accepted_ids()
    }

    /// Opens the store the stopped process left behind.
    pub fn store(&self) -> Store {
        Store::open(&self.dir.path().join("store")).expect("the store opens after a stop")
    }

    /// The admin API's URL of the running process, from its `admin API listening on` log
    /// line (so `log_filter` must let `info` through); waits for it up to [`STOP_WITHIN`].
    pub async fn admin_url(&self) -> String {
        const LINE: &str = "admin API listening on ";
        let logged = until(STOP_WITHIN, Duration::from_millis(10), || {
            let logs = self.log_text();
            let at = logs.rfind(LINE);
            ready(at.map(|at| {
                logs[at + LINE.len()..]
                    .split_whitespace()
                    .next()
                    .unwrap()
                    .to_owned()
            }))
        })
        .await;
        logged.unwrap_or_else(|| panic!("no admin address logged:\n{}", self.log_text()))
    }

    /// Everything every run printed.
    pub fn log_text(&self) -> String {
        self.logs
            .iter()
            .map(|path| std::fs::read_to_string(path).unwrap_or_default())
            .collect()
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for path in &self.logs {
                let text = std::fs::read_to_string(path).unwrap_or_default();
                eprintln!("----- {}:\n{text}", path.display());
            }
        }
    }
}

/// A running `courier run`; killed when dropped, so a failing test leaves no process behind.
pub struct Courier {
    child: Child,
}

impl Courier {
    /// The process `child`, a `courier run` some rig started.
    pub fn of(child: Child) -> Self {
        Self { child }
    }

    /// Whether it exited already, and how; does not wait.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("waiting for courier")
    }

    /// SIGKILL: the process dies at once, with whatever it had in memory.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL is sent");
        self.child.wait().expect("the killed process is reaped");
    }

    /// Sends `signal` (such as `"HUP"`) to the process.
    pub fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("kill(1) runs");
        assert!(sent.success(), "kill -{signal} failed");
    }

    /// SIGTERM, then waits for the exit; returns its status and how long the stop took.
    pub async fn terminate(mut self) -> (ExitStatus, Duration) {
        let pid = self.child.id().to_string();
        let start = Instant::now();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill(1) runs");
        assert!(sent.success(), "kill -TERM {pid} failed");
        let status = self.exit_within(STOP_WITHIN, "SIGTERM").await;
        (status, start.elapsed())
    }

    /// Waits for a process that stops by itself (a refused start); fails after `limit`.
    pub async fn exited(mut self, limit: Duration) -> ExitStatus {
        self.exit_within(limit, "its start").await
    }

    async fn exit_within(&mut self, limit: Duration, since: &str) -> ExitStatus {
        let exited = until(limit, Duration::from_millis(10), || {
            ready(self.child.try_wait().expect("waiting for courier"))
        })
        .await;
        exited.unwrap_or_else(|| panic!("courier did not exit within {limit:?} of {since}"))
    }

    /// SIGTERM, asserting a clean exit in time.
    pub async fn stop(self) -> Duration {
        let (status, took) = self.terminate().await;
        assert!(status.success(), "SIGTERM ended courier with {status}");
        took
    }
}

impl Drop for Courier {
    fn drop(&mut self) {
        // Errors only mean the process was already reaped.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
