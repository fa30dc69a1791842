//! The real `courier run` process the torture kills: started on the torture's configuration
//! and store with its log in a file per run, SIGKILLed, paused with SIGSTOP and continued, or
//! stopped with SIGTERM at the end.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The environment variable the torture configuration names for the destination secret.
pub const SECRET_ENV: &str = "COURIER_TORTURE_SECRET";

/// Starts `courier run` processes, one log file each.
pub struct Launcher {
    /// The `courier` binary.
    pub binary: PathBuf,
    /// The torture's directory: `courier.toml`, `store/`, `logs/`.
    pub dir: PathBuf,
    /// The destination secret, passed in the environment only.
    pub secret: String,
    /// Names the log files, `<name>-<run>.log`: `run` for the single instance, the instance's
    /// name in a cluster.
    pub name: String,
    /// Arguments after `run --config <file>` (a cluster instance's `--instance`).
    pub args: Vec<String>,
    /// Environment besides the secret (a cluster's database URL).
    pub env: Vec<(String, String)>,
    /// Log files of every run so far, in order.
    pub logs: Vec<PathBuf>,
}

impl Launcher {
    /// A launcher of the single instance, whose runs log to `run-<run>.log`.
    pub fn single(binary: PathBuf, dir: PathBuf, secret: String) -> Self {
        Self {
            binary,
            dir,
            secret,
            name: "run".to_owned(),
            args: Vec::new(),
            env: Vec::new(),
            logs: Vec::new(),
        }
    }

    /// Starts run number `logs.len()`.
    pub fn start(&mut self) -> io::Result<Courier> {
        let log = self
            .dir
            .join("logs")
            .join(format!("{}-{:02}.log", self.name, self.logs.len()));
        let out = File::create(&log)?;
        let child = Command::new(&self.binary)
            .arg("run")
            .arg("--config")
            .arg(self.dir.join("courier.toml"))
            .args(&self.args)
            .current_dir(&self.dir)
            .env_clear()
            .env(SECRET_ENV, &self.secret)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("RUST_LOG", "info")
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()?;
        self.logs.push(log);
        Ok(Courier {
            child,
            started: Instant::now(),
        })
    }
}

/// A running `courier run`; SIGKILLed when dropped, so the torture never leaves one behind.
pub struct Courier {
    child: Child,
    started: Instant,
}

impl Courier {
    /// How long this process has been running.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// The exit status if the process ended on its own (it never should).
    pub fn exited(&mut self) -> io::Result<Option<ExitStatus>> {
        self.child.try_wait()
    }

    /// SIGKILL, and reap the process.
    pub fn kill(mut self) -> io::Result<()> {
        self.child.kill()?;
        self.child.wait().map(drop)
    }

    /// SIGSTOP: the process stands still, its sockets open, until [`Courier::resume`], as a
    /// machine that froze or a process stuck in a long pause would.
    pub fn pause(&self) -> io::Result<()> {
        self.signal("-STOP")
    }

    /// SIGCONT after [`Courier::pause`].
    pub fn resume(&self) -> io::Result<()> {
        self.signal("-CONT")
    }

    /// SIGTERM, then waits up to `within` for the exit; SIGKILL if it does not come.
    pub async fn terminate(mut self, within: Duration) -> io::Result<Option<ExitStatus>> {
        self.signal("-TERM")?;
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                return Ok(Some(status));
            }
            actix_rt::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(None)
    }
}

impl Courier {
    /// Sends a signal by name with `kill`; the child is ours and not yet reaped, so its pid
    /// is still its own.
    fn signal(&self, name: &str) -> io::Result<()> {
        let sent = Command::new("kill")
            .args([name, &self.child.id().to_string()])
            .status()?;
        if sent.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!("kill {name} failed")))
        }
    }
}

impl Drop for Courier {
    fn drop(&mut self) {
        // Errors only mean the process was already reaped.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the runs logged that matters: panics, and lines at `ERROR`.
#[derive(Debug, Default)]
pub struct LogScan {
    /// Lines that report a panic.
    pub panics: Vec<String>,
    /// Lines logged at `ERROR`.
    pub errors: Vec<String>,
}

/// Reads every run's log.
pub fn scan_logs(logs: &[PathBuf]) -> LogScan {
    let mut scan = LogScan::default();
    for path in logs {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let run = run_name(path);
        for line in text.lines() {
            if line.contains("panicked") {
                scan.panics.push(format!("{run}: {line}"));
            } else if line.contains(" ERROR ") {
                scan.errors.push(format!("{run}: {line}"));
            }
        }
    }
    scan
}

fn run_name(path: &Path) -> String {
    path.file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default()
}
