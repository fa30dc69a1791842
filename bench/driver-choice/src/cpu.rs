//! CPU accounting for a run: this process's user+system time (getrusage), the server
//! processes serving the bench's connections and all `postgres` processes (from
//! `/proc/<pid>/stat`), the whole machine's busy time (`/proc/stat`) and its load.

use std::fs;
use std::time::Duration;

/// CPU times at one instant.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sample {
    /// This process, user + system.
    pub client: Duration,
    /// The bench's own server backends.
    pub backends: Duration,
    /// Every process named `postgres` (other users of the server included).
    pub postgres: Duration,
    /// All cores, busy (non-idle, non-iowait) time.
    pub machine_busy: Duration,
}

impl Sample {
    /// Takes a sample; `backends` are the server pids of the bench's pool.
    pub fn now(backends: &[i32]) -> Sample {
        Sample {
            client: client_cpu(),
            backends: backends.iter().map(|p| process_cpu(*p)).sum(),
            postgres: postgres_cpu(),
            machine_busy: machine_busy(),
        }
    }

    /// The CPU spent between `self` and a later sample.
    pub fn until(&self, later: &Sample) -> Sample {
        Sample {
            client: later.client.saturating_sub(self.client),
            backends: later.backends.saturating_sub(self.backends),
            postgres: later.postgres.saturating_sub(self.postgres),
            machine_busy: later.machine_busy.saturating_sub(self.machine_busy),
        }
    }
}

fn timeval(tv: libc::timeval) -> Duration {
    Duration::from_secs(tv.tv_sec as u64) + Duration::from_micros(tv.tv_usec as u64)
}

fn client_cpu() -> Duration {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    if rc != 0 {
        return Duration::ZERO;
    }
    timeval(usage.ru_utime) + timeval(usage.ru_stime)
}

fn ticks(n: u64) -> Duration {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_micros(n * 1_000_000 / hz)
}

/// utime + stime of one process; zero once it has gone.
fn process_cpu(pid: i32) -> Duration {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Duration::ZERO;
    };
    // The command name may hold spaces; fields are counted after its closing parenthesis.
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
        return Duration::ZERO;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of stat(5) are the 12th and 13th after the name.
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    ticks(field(11) + field(12))
}

fn postgres_cpu() -> Duration {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Duration::ZERO;
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
        .filter(|pid| {
            fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "postgres")
        })
        .map(process_cpu)
        .sum()
}

fn machine_busy() -> Duration {
    let Ok(stat) = fs::read_to_string("/proc/stat") else {
        return Duration::ZERO;
    };
    let Some(line) = stat.lines().next() else {
        return Duration::ZERO;
    };
    let n: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal: busy is all but idle and iowait.
    let busy: u64 = n
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, v)| v)
        .sum();
    ticks(busy)
}

/// The one-minute load average.
pub fn load() -> f64 {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().and_then(|f| f.parse().ok()))
        .unwrap_or(0.0)
}

/// The number of cores.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
