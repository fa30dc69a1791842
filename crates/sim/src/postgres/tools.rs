//! The PostgreSQL command-line tools, run through `std::process`: where they live, running the
//! server-side ones as the `postgres` user when we are root (`initdb` and the server refuse to
//! run as root), and `psql` for one statement at a time.

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use crate::wait::until_blocking;

/// How long `psql` may take to connect: a server that is down answers at once, so this only
/// bounds a hung one.
const CONNECT_TIMEOUT_SECS: &str = "5";

/// The tool `program` from the newest installed PostgreSQL (Debian keeps the server tools in
/// `/usr/lib/postgresql/<ver>/bin`, off PATH), or the bare name to find on PATH.
pub(super) fn tool(program: &str) -> PathBuf {
    match bin_dir() {
        Some(dir) => dir.join(program),
        None => PathBuf::from(program),
    }
}

/// The directory of the newest installed server, found once per process.
fn bin_dir() -> Option<&'static Path> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| newest_debian_bin_dir().or_else(pg_config_bin_dir))
        .as_deref()
}

/// `/usr/lib/postgresql/<ver>/bin` with the highest `<ver>` that holds an `initdb`.
fn newest_debian_bin_dir() -> Option<PathBuf> {
    fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .max_by_key(|(version, _)| *version)
        .map(|(_, bin)| bin)
}

/// What `pg_config --bindir` says, for installations outside Debian's layout.
fn pg_config_bin_dir() -> Option<PathBuf> {
    let out = Command::new("pg_config").arg("--bindir").output().ok()?;
    let dir = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    (out.status.success() && dir.join("initdb").exists()).then_some(dir)
}

/// Whether this process runs as root (`/proc/self` belongs to the effective user).
pub(super) fn is_root() -> bool {
    fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0)
}

/// A command for a server-side tool (`initdb`, `pg_ctl`): as the `postgres` user when we are
/// root, as ourselves otherwise.
pub(super) fn server_tool(program: &str) -> Command {
    if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(tool(program));
        command
    } else {
        Command::new(tool(program))
    }
}

/// Runs `command` to its end and returns its standard output; an error carries what it wrote
/// on standard error, named `what`.
pub(super) fn run(mut command: Command, what: &str) -> io::Result<String> {
    let out = command.stdin(Stdio::null()).output()?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        return Err(io::Error::other(format!("{what} ({}): {why}", out.status)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Runs one SQL statement against the database at `url` and returns its unaligned output
/// (`SELECT 1` answers "1"; one row a line, columns split by `|`); no `~/.psqlrc`, stops at
/// the first error. Public for the torture and the benchmarks, which read the store's
/// tables after a run.
pub fn psql(url: &str, sql: &str) -> io::Result<String> {
    let mut command = Command::new(tool("psql"));
    command
        .args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            url,
            "-c",
            sql,
        ])
        .env("PGCONNECT_TIMEOUT", CONNECT_TIMEOUT_SECS);
    run(command, "psql")
}

/// Whether a server accepts connections on 127.0.0.1:`port`.
pub(super) fn is_ready(port: u16) -> bool {
    let mut command = Command::new(tool("pg_isready"));
    command.args(["-q", "-h", "127.0.0.1", "-p", &port.to_string(), "-t", "1"]);
    run(command, "pg_isready").is_ok()
}

/// `name` quoted as an SQL identifier.
pub(super) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Creates database `name` through the server's `admin_url`. `CREATE DATABASE` copies
/// template1 and fails while another session is connected to it (another test creating its
/// database at the same moment), so that error is retried for up to 30 s.
pub(super) fn create_database(admin_url: &str, name: &str) -> io::Result<()> {
    let sql = format!("CREATE DATABASE {}", quote_ident(name));
    let created = until_blocking(
        Duration::from_secs(30),
        Duration::from_millis(50),
        || match psql(admin_url, &sql) {
            Err(err) if err.to_string().contains("being accessed by other users") => None,
            done => Some(done),
        },
    );
    match created {
        Some(done) => done.map(drop),
        None => Err(io::Error::other(format!(
            "CREATE DATABASE {name}: template1 stayed busy for 30 s"
        ))),
    }
}

/// Hands `dir` (and all below it) to the `postgres` user when we are root, and lets that user
/// through every ancestor that would stop it (adding only the search bit, never read), so
/// `initdb` and the server can reach their files. Does nothing when not root.
pub(super) fn give_to_postgres(dir: &Path) -> io::Result<()> {
    if !is_root() {
        return Ok(());
    }
    let mut chown = Command::new("chown");
    chown.args(["-R", "postgres:postgres"]).arg(dir);
    run(chown, "chown")?;
    for ancestor in dir.ancestors().skip(1) {
        let mode = fs::metadata(ancestor)?.permissions().mode();
        if mode & 0o001 == 0 {
            fs::set_permissions(ancestor, fs::Permissions::from_mode(mode | 0o001))?;
        }
    }
    Ok(())
}
