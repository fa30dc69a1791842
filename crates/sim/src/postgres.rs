//! A real PostgreSQL for the tests of Courier's PostgreSQL store (issue 14): the server on
//! 127.0.0.1:5432 when it answers, otherwise a throwaway cluster that this process starts
//! under the workspace's `target/` and that a watchdog stops when the process exits; each
//! test gets a fresh database of its own, dropped when it is done.
//!
//! Everything goes through the PostgreSQL command-line tools (`psql`, `initdb`, `pg_ctl`,
//! `pg_isready`), so this crate needs no database driver. [`ThrowawayCluster`] is also
//! public, for tests that stop and restart PostgreSQL under a running Courier.
//!
//! `COURIER_TEST_POSTGRES=throwaway` forces the throwaway cluster even when 5432 answers (CI
//! checks that path that way).

mod cluster;
mod tools;

#[cfg(test)]
mod tests;

use std::env;
use std::io;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

pub use cluster::ThrowawayCluster;
pub use tools::psql;

/// The server the tests share when it answers: the usual local one, with trust logins.
const LOCAL_BASE_URL: &str = "postgres://postgres@127.0.0.1:5432";

/// The longest database name PostgreSQL keeps whole (NAMEDATALEN - 1).
const MAX_NAME_LEN: usize = 63;

/// The server the tests use: 127.0.0.1:5432 when it answers, otherwise a throwaway cluster
/// started once per test process (under the workspace's target/ dir) and stopped when the
/// process exits. Env COURIER_TEST_POSTGRES=throwaway forces the throwaway cluster.
///
/// Panics when neither can be had: a test of the PostgreSQL store cannot run without one.
pub fn server() -> &'static PgServer {
    static SERVER: OnceLock<PgServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        PgServer::find().unwrap_or_else(|err| panic!("no PostgreSQL server for the tests: {err}"))
    })
}

/// A PostgreSQL server that trusts the superuser `postgres` from 127.0.0.1.
pub struct PgServer {
    /// `postgres://postgres@127.0.0.1:<port>`, without a database.
    base_url: String,
    /// The throwaway cluster, when that is the server; kept so it is never dropped (its
    /// watchdog stops it).
    _cluster: Option<ThrowawayCluster>,
}

impl PgServer {
    /// A new, empty database `courier_t_<hint>_<pid>_<n>`; dropped (WITH (FORCE)) when the
    /// returned value drops. `hint` (the test's name, say) is cut down to what a database
    /// name can hold. Panics when the server refuses: the test cannot run.
    pub fn fresh_database(&self, hint: &str) -> TestDatabase {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = database_name(hint, process::id(), n);
        let admin_url = self.admin_url();
        if let Err(err) = tools::create_database(&admin_url, &name) {
            panic!("creating the test database {name}: {err}");
        }
        TestDatabase {
            url: format!("{}/{name}?sslmode=disable", self.base_url),
            name,
            admin_url,
        }
    }

    /// The server's base URL without a database, e.g. postgres://postgres@127.0.0.1:5432
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The URL of the `postgres` maintenance database, where databases are created and dropped.
    fn admin_url(&self) -> String {
        format!("{}/postgres?sslmode=disable", self.base_url)
    }

    /// The local server when it answers a trust login (and is not ruled out), otherwise a
    /// throwaway cluster.
    fn find() -> io::Result<PgServer> {
        let forced = env::var("COURIER_TEST_POSTGRES").is_ok_and(|value| value == "throwaway");
        let local = PgServer {
            base_url: LOCAL_BASE_URL.to_owned(),
            _cluster: None,
        };
        if !forced && tools::psql(&local.admin_url(), "SELECT 1").is_ok() {
            return Ok(local);
        }
        PgServer::throwaway()
    }

    /// Initialises and starts a cluster in `target/courier-test-postgres/<pid>` on a free
    /// port, with the watchdog that stops it and removes the directory after this process.
    fn throwaway() -> io::Result<PgServer> {
        let dir = target_dir()
            .join("courier-test-postgres")
            .join(process::id().to_string());
        if dir.exists() {
            // Left by an earlier process with the same pid that did not clean up.
            std::fs::remove_dir_all(&dir)?;
        }
        let cluster = ThrowawayCluster::init(&dir, free_port()?)?;
        cluster.stop_when_process_exits()?;
        cluster.start()?;
        Ok(PgServer {
            base_url: format!("postgres://postgres@127.0.0.1:{}", cluster.port()),
            _cluster: Some(cluster),
        })
    }
}

/// A database of one test's own on [`server`]; dropped when this value drops.
pub struct TestDatabase {
    /// postgres://postgres@127.0.0.1:PORT/NAME?sslmode=disable
    pub url: String,
    /// The database's name, `courier_t_<hint>_<pid>_<n>`.
    pub name: String,
    /// Where the database is dropped from.
    admin_url: String,
}

impl Drop for TestDatabase {
    /// Frees the database, ending any session still in it (a pool the test did not close).
    fn drop(&mut self) {
        let sql = format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            tools::quote_ident(&self.name)
        );
        if let Err(err) = tools::psql(&self.admin_url, &sql) {
            eprintln!(
                "courier-sim: dropping the test database {}: {err}",
                self.name
            );
        }
    }
}

/// A TCP port on 127.0.0.1 that nobody listens on right now (the system's pick for port 0).
pub fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// `courier_t_<hint>_<pid>_<n>`: the hint lowercased, anything but ASCII letters and digits
/// made `_`, and cut so the whole name fits PostgreSQL's 63 bytes (unique by pid and `n`).
fn database_name(hint: &str, pid: u32, n: u64) -> String {
    let prefix = "courier_t_";
    let suffix = format!("_{pid}_{n}");
    let room = MAX_NAME_LEN - prefix.len() - suffix.len();
    let hint: String = hint
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9') => c,
            _ => '_',
        })
        .take(room)
        .collect();
    format!("{prefix}{hint}{suffix}")
}

/// Where throwaway clusters go: `CARGO_TARGET_DIR` when set, otherwise `target` in the
/// workspace root (the directory above this crate that holds `Cargo.lock`).
fn target_dir() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let root = manifest_dir
        .ancestors()
        .find(|dir| dir.join("Cargo.lock").exists())
        .unwrap_or(&manifest_dir)
        .to_owned();
    match env::var_os("CARGO_TARGET_DIR") {
        // A relative CARGO_TARGET_DIR is cargo's, relative to where cargo ran: the root.
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}
