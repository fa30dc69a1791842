//! A PostgreSQL cluster of the caller's own: `initdb`'d in a directory, listening on a port of
//! 127.0.0.1, started, stopped and restarted on demand (the torture restarts PostgreSQL under
//! a running Courier), stopped when dropped.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{self, Command, Stdio};
use std::time::Duration;

use super::tools::{self, give_to_postgres, is_ready, run, server_tool};
use crate::wait::until_blocking;

/// How long a start or a stop may take; a cold start of a small cluster takes well under 1 s.
const START_STOP_TIMEOUT_SECS: &str = "60";

/// The longest socket directory that still fits a Unix socket path (108 bytes, with
/// `/.s.PGSQL.<port>` and its NUL).
const MAX_SOCKET_DIR_LEN: usize = 90;

/// A cluster in its own directory. Invariant: `data` was initialised by `initdb` with trust
/// authentication for the superuser `postgres`, and its configuration listens on
/// 127.0.0.1:`port` only.
pub struct ThrowawayCluster {
    /// The directory given to [`ThrowawayCluster::init`] (absolute): the server's log and
    /// Unix socket live here, its data in `data`.
    dir: PathBuf,
    /// The data directory (`dir/data`).
    data: PathBuf,
    /// The TCP port on 127.0.0.1.
    port: u16,
}

impl ThrowawayCluster {
    /// Initialises a cluster in `dir` (created when missing; as root, handed to the
    /// `postgres` user) that will listen on 127.0.0.1:`port`; it is not started yet.
    /// `fsync` stays on: durability tests rely on what a stop keeps.
    pub fn init(dir: &Path, port: u16) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let dir = dir.canonicalize()?;
        give_to_postgres(&dir)?;
        let data = dir.join("data");
        let mut initdb = server_tool("initdb");
        initdb
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale"])
            // Only initdb's own final sync: the cluster is thrown away if the machine dies.
            .args(["--no-sync", "--no-instructions"]);
        run(initdb, "initdb")?;
        let cluster = ThrowawayCluster { dir, data, port };
        cluster.configure()?;
        Ok(cluster)
    }

    /// Appends our settings to `postgresql.conf` (the last setting of a name wins).
    fn configure(&self) -> io::Result<()> {
        let dir = self.dir.to_string_lossy();
        // A path too long for a Unix socket would stop the server from starting: TCP only then.
        let sockets = if dir.len() <= MAX_SOCKET_DIR_LEN {
            dir.replace('\'', "''")
        } else {
            String::new()
        };
        let settings = format!(
            "\n# courier-sim: a throwaway cluster for the tests\n\
             listen_addresses = '127.0.0.1'\n\
             port = {port}\n\
             unix_socket_directories = '{sockets}'\n\
             max_connections = 200\n\
             shared_buffers = 32MB\n\
             fsync = on\n",
            port = self.port
        );
        let conf = self.data.join("postgresql.conf");
        OpenOptions::new()
            .append(true)
            .open(conf)?
            .write_all(settings.as_bytes())
    }

    /// Starts the server and returns once it accepts connections; the error carries the end
    /// of the server's log.
    pub fn start(&self) -> io::Result<()> {
        let mut pg_ctl = server_tool("pg_ctl");
        pg_ctl
            .arg("start")
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(self.log())
            .args(["-w", "-t", START_STOP_TIMEOUT_SECS]);
        run(pg_ctl, "pg_ctl start").map_err(|err| self.with_log(err))?;
        // pg_ctl -w already waited; this makes sure TCP on 127.0.0.1 is what answers.
        until_blocking(Duration::from_secs(30), Duration::from_millis(20), || {
            is_ready(self.port).then_some(())
        })
        .ok_or_else(|| self.with_log(io::Error::other("the server never accepted connections")))
    }

    /// Stops the server with a fast shutdown (sessions are ended, what was committed is kept)
    /// and returns once it is down; nothing to do when it is not running.
    pub fn stop(&self) -> io::Result<()> {
        if !self.data.join("postmaster.pid").exists() {
            return Ok(());
        }
        let mut pg_ctl = server_tool("pg_ctl");
        pg_ctl.arg("stop").arg("-D").arg(&self.data).args([
            "-m",
            "fast",
            "-w",
            "-t",
            START_STOP_TIMEOUT_SECS,
        ]);
        run(pg_ctl, "pg_ctl stop").map(drop)
    }

    /// Stops the server (when running) and starts it again.
    pub fn restart(&self) -> io::Result<()> {
        self.stop()?;
        self.start()
    }

    /// The URL of `database` on this cluster, as the superuser, without TLS.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{database}?sslmode=disable",
            self.port
        )
    }

    /// The TCP port the cluster listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Creates an empty database `name` (the server must be running).
    pub fn create_database(&self, name: &str) -> io::Result<()> {
        tools::create_database(&self.url("postgres"), name)
    }

    /// Has a detached watchdog stop the server and remove `dir` once this process has
    /// exited: Rust runs no destructor for a static, so the process-wide server of the tests
    /// could not stop itself. The watchdog is in a process group of its own, so a Ctrl-C on
    /// the tests does not kill it before it has done its job.
    pub(super) fn stop_when_process_exits(&self) -> io::Result<()> {
        let as_postgres = if tools::is_root() {
            "runuser -u postgres -- "
        } else {
            ""
        };
        let script = format!(
            "while kill -0 \"$1\" 2>/dev/null; do sleep 1; done; \
             {as_postgres}\"$2\" stop -D \"$3\" -m fast -w >/dev/null 2>&1; rm -rf \"$4\""
        );
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(script)
            .arg("courier-pg-watchdog")
            .arg(process::id().to_string())
            .arg(tools::tool("pg_ctl"))
            .arg(&self.data)
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        command.spawn().map(drop)
    }

    /// The server's log file.
    fn log(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    /// `err` with the last lines of the server's log, which say why it did not start.
    fn with_log(&self, err: io::Error) -> io::Error {
        let log = fs::read_to_string(self.log()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(10)..].join("\n");
        io::Error::other(format!(
            "{err}\nserver log ({}):\n{tail}",
            self.log().display()
        ))
    }
}

impl Drop for ThrowawayCluster {
    /// Frees the port and the server's memory; the directory is the caller's.
    fn drop(&mut self) {
        if let Err(err) = self.stop() {
            eprintln!(
                "courier-sim: stopping the PostgreSQL cluster on port {}: {err}",
                self.port
            );
        }
    }
}
