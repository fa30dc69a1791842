//! The processes of a benchmark: spawning the load EHR, the counting receiver and Courier,
//! reading their CPU time and memory from `/proc`, and asking the servers for their counts.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A child process; killed when dropped, so a failed scenario leaves nothing running.
pub struct Proc {
    child: Child,
    /// What it printed after `READY ` (a URL), for the servers.
    pub ready: String,
}

impl Proc {
    /// Spawns `command` and waits (at most a minute) for its `READY <what>` line.
    pub fn spawn_ready(name: &'static str, mut command: Command) -> Proc {
        let mut child = command
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {name}: {e}"));
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            // Keep draining so the child never blocks on a full pipe.
            for _ in lines {}
        });
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("{name} did not report READY"));
        let ready = line
            .strip_prefix("READY ")
            .unwrap_or_else(|| panic!("{name} printed {line:?} instead of READY"))
            .to_owned();
        Proc { child, ready }
    }

    /// Spawns `command` with no handshake (Courier itself).
    pub fn spawn(name: &'static str, mut command: Command) -> Proc {
        let child = command
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {name}: {e}"));
        Proc {
            child,
            ready: String::new(),
        }
    }

    /// Whether the process has ended (a Courier that could not start, for instance).
    pub fn has_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its CPU time and memory now.
    pub fn sample(&self) -> Sample {
        Sample::of(self.pid())
    }

    /// SIGTERM, then SIGKILL if it has not exited within `grace`.
    pub fn terminate(mut self, grace: Duration) -> Option<i32> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// CPU time (user + system) and memory of a process, from `/proc/<pid>/stat` and `status`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    pub at: Option<Instant>,
    pub cpu_secs: f64,
    pub rss_kb: u64,
    pub peak_rss_kb: u64,
}

/// The numeric fields of `/proc/<pid>/stat` after the command name (which may hold spaces),
/// from field 3 (state) on: utime and stime (fields 14, 15) are at 11 and 12, the reaped
/// children's cutime and cstime (16, 17) at 13 and 14, the parent's pid (4) at 1.
fn stat_fields(pid: u32) -> Vec<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit_once(')')
        .map(|(_, rest)| {
            rest.split_whitespace()
                .map(|f| f.parse().unwrap_or(0))
                .collect()
        })
        .unwrap_or_default()
}

/// CPU time (s) of a server and every process under it: its own, its live children's, and
/// that of the children it has reaped (a PostgreSQL postmaster and its backends).
pub fn tree_cpu_secs(root: u32) -> f64 {
    let field = |fields: &[u64], i: usize| fields.get(i).copied().unwrap_or(0);
    let own = stat_fields(root);
    let mut ticks = field(&own, 11) + field(&own, 12) + field(&own, 13) + field(&own, 14);
    let pids = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok());
    for pid in pids {
        let fields = stat_fields(pid);
        if field(&fields, 1) == u64::from(root) {
            ticks += field(&fields, 11) + field(&fields, 12);
        }
    }
    ticks as f64 / clock_ticks_per_sec()
}

impl Sample {
    pub fn of(pid: u32) -> Sample {
        let fields = stat_fields(pid);
        let ticks = |i: usize| fields.get(i).copied().unwrap_or(0);
        let cpu_secs = (ticks(11) + ticks(12)) as f64 / clock_ticks_per_sec();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let kb = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        Sample {
            at: Some(Instant::now()),
            cpu_secs,
            rss_kb: kb("VmRSS:"),
            peak_rss_kb: kb("VmHWM:"),
        }
    }

    /// CPU use between two samples, in percent of one core.
    pub fn cpu_percent_since(&self, earlier: &Sample) -> f64 {
        let secs = match (self.at, earlier.at) {
            (Some(b), Some(a)) => b.duration_since(a).as_secs_f64(),
            _ => return 0.0,
        };
        if secs <= 0.0 {
            return 0.0;
        }
        (self.cpu_secs - earlier.cpu_secs) / secs * 100.0
    }
}

fn clock_ticks_per_sec() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// A minimal HTTP/1.1 exchange with `Connection: close`; returns the body.
pub fn http(base: &str, method: &str, path: &str) -> String {
    let host = base
        .trim_start_matches("http://")
        .split('/')
        .next()
        .expect("a host");
    let mut stream = TcpStream::connect(host).unwrap_or_else(|e| panic!("connecting {host}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("a timeout");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )
    .expect("writing a request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("reading a response");
    response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default()
}

/// The first line of a file, trimmed (for /proc and /sys facts).
pub fn first_line_with(path: &Path, prefix: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()?
        .lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_owned())
}

/// CPU time the whole machine has spent busy (all cores, every process), from `/proc/stat`:
/// with the harness's own processes subtracted, what others ran during a measurement.
pub fn machine_busy_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal: everything but idle and iowait.
    let busy: u64 = ticks
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, t)| t)
        .sum();
    busy as f64 / clock_ticks_per_sec()
}
