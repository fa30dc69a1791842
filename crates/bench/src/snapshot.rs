//! The snapshot scenario of issue 15: `courier run` lists a window of 100,000 appointments
//! served by the simulated EHR's schedule (a process of its own, the `schedule` subcommand),
//! in pages of 500 compared by `compare` pointers. It measures the baseline listing, steady
//! listings with nothing changed, and listings after 1% of the window changed: time and
//! Courier's CPU per listing, peak RSS, the sled directory's growth, and changes detected and
//! delivered. Listing times and counts come from Courier's own `listing N done` line.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::Duration as TimeDelta;
use courier_sim::{ScheduleControl, SimEhr, SimEhrOptions};

use crate::procs::{http, machine_busy_secs, Proc, Sample};
use crate::scenarios::{tally, Bench, Results, SECRET_ENV};

mod report;
use report::Figures;

/// Appointments in the listed window.
pub const WINDOW_RECORDS: usize = 100_000;
/// Records per listing page (the sim caps pages at 10,000; 500 is a common API default).
const PAGE_SIZE: usize = 500;
/// Listings after the baseline with nothing changed.
const STEADY_LISTINGS: u64 = 3;
/// Listings after the steady ones, each after 1% of the window changed.
const CHANGED_LISTINGS: u64 = 3;
/// Percent of the window changed before each changed listing.
const CHANGED_PERCENT: f64 = 1.0;
/// Pause between listings: long enough for the harness to change the schedule in it and for
/// 1,000 notifications to be delivered before the next listing starts.
const INTERVAL_SECS: u64 = 4;
/// The longest one listing (the baseline included) may take before the scenario gives up.
const LISTING_BOUND: Duration = Duration::from_secs(120);

/// Serves the simulated EHR with a window of `records` appointments over the next 14 days,
/// and a control port (`POST /change?percent=P`, `GET /requests`) for the harness, until
/// killed; prints `READY <base url> <control url>`.
pub fn serve(records: usize) {
    actix_rt::System::new().block_on(async move {
        let ehr = SimEhr::start(SimEhrOptions {
            patients: 5_000,
            appointments: 1,
            ..SimEhrOptions::default()
        })
        .expect("starting the simulated EHR");
        let schedule = ehr.schedule();
        schedule.generate(records, TimeDelta::zero(), TimeDelta::days(14));
        let listener = TcpListener::bind("127.0.0.1:0").expect("a control port");
        let control = format!("http://{}", listener.local_addr().expect("its address"));
        std::thread::spawn(move || serve_control(&listener, &schedule));
        println!("READY {} {control}", ehr.base_url());
        std::future::pending::<()>().await;
    });
}

/// The harness's controls over the schedule, one request per connection.
fn serve_control(listener: &TcpListener, schedule: &ScheduleControl) {
    for stream in listener.incoming().flatten() {
        let mut reader = BufReader::new(&stream);
        let mut line = String::new();
        if reader.read_line(&mut line).is_err() {
            continue;
        }
        // The harness sends no body; read the headers to their end.
        let mut header = String::new();
        while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
            header.clear();
        }
        let target = line.split_whitespace().nth(1).unwrap_or_default();
        let body = match target.split_once('?') {
            Some(("/change", query)) => {
                let percent = query
                    .strip_prefix("percent=")
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(CHANGED_PERCENT);
                schedule.change_percent(percent).to_string()
            }
            _ if target == "/requests" => schedule.requests().to_string(),
            _ => String::new(),
        };
        let mut stream = &stream;
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    }
}

/// What Courier's `listing N done` line says, and the harness's samples around it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Listing {
    /// Records the listing's pages held.
    listed: u64,
    /// Courier's own time from the listing's start to its end, ms.
    ms: u64,
    created: u64,
    updated: u64,
    removed: u64,
    /// Courier's CPU time from the listing's first request to its end line, s.
    cpu_secs: f64,
    /// The simulated EHR's CPU time over the same span, s.
    ehr_cpu_secs: f64,
    /// CPU time of every other process on the machine over the same span, s.
    others_cpu_secs: f64,
}

impl Listing {
    fn detected(&self) -> u64 {
        self.created + self.updated + self.removed
    }

    fn secs(&self) -> f64 {
        self.ms as f64 / 1000.0
    }
}

/// Courier's log, read as it grows.
struct LogTail {
    file: std::fs::File,
    text: String,
}

impl LogTail {
    /// The counts of `listing n done`, once Courier has logged it.
    fn done(&mut self, n: u64) -> Option<Listing> {
        let mut more = String::new();
        let _ = self.file.read_to_string(&mut more);
        self.text.push_str(&more);
        let marker = format!(" listing {n} done: ");
        // Only whole lines: the last may still be being written.
        let whole = &self.text[..self.text.rfind('\n').map_or(0, |end| end + 1)];
        let line = whole.lines().find(|l| l.contains(&marker))?;
        let rest = line.split_once(&marker)?.1;
        let number = |label: &str| -> u64 {
            rest.split(", ")
                .find_map(|part| part.strip_suffix(label))
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or(0)
        };
        let listed = rest.split(' ').next().and_then(|n| n.parse().ok());
        Some(Listing {
            listed: listed.unwrap_or(0),
            ms: number(" ms"),
            created: number(" created"),
            updated: number(" updated"),
            removed: number(" removed"),
            ..Listing::default()
        })
    }
}

/// The running trio and what the harness reads from it.
struct Run {
    ehr: Proc,
    control: String,
    receiver: Proc,
    courier: Proc,
    log: LogTail,
    store: std::path::PathBuf,
}

impl Run {
    fn listing_requests(&self) -> u64 {
        http(&self.control, "GET", "/requests")
            .trim()
            .parse()
            .unwrap_or(0)
    }

    /// Waits for listing `n`: its first page request (the CPU sample before it) and its end
    /// line (the sample after).
    fn wait_listing(&mut self, n: u64, requests_before: u64) -> Listing {
        let deadline = Instant::now() + LISTING_BOUND + Duration::from_secs(INTERVAL_SECS);
        let mut started: Option<[Sample; 2]> = None;
        let mut busy_before = 0.0;
        loop {
            assert!(
                !self.courier.has_exited() && Instant::now() < deadline,
                "listing {n} did not end: see snapshot.log in the bench's work directory"
            );
            if started.is_none() && self.listing_requests() > requests_before {
                started = Some([self.courier.sample(), self.ehr.sample()]);
                busy_before = machine_busy_secs();
            }
            if let Some(mut listing) = self.log.done(n) {
                let end = [self.courier.sample(), self.ehr.sample()];
                let [courier, ehr] = started.unwrap_or_default();
                listing.cpu_secs = end[0].cpu_secs - courier.cpu_secs;
                listing.ehr_cpu_secs = end[1].cpu_secs - ehr.cpu_secs;
                let busy = machine_busy_secs() - busy_before;
                listing.others_cpu_secs = (busy - listing.cpu_secs - listing.ehr_cpu_secs).max(0.0);
                return listing;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits (at most 30 s) until the receiver counts `total` distinct notifications.
    fn wait_delivered(&self, total: u64) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let unique = tally(&self.receiver).unique;
            if unique >= total || Instant::now() > deadline {
                return unique;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Bytes of the files under `dir` (the sled directory), as `du --apparent-size` counts.
fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => dir_bytes(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Courier's configuration: one snapshot connection listing the sim's schedule by link.
fn config_toml(store: &Path, ehr: &str, receiver: &str) -> String {
    format!(
        "[store]\npath = {store:?}\n\n[runtime]\nshutdown_grace_secs = 5\n\n\
         [destinations.hooks]\nurl = \"{receiver}\"\nsecret_env = \"{SECRET_ENV}\"\n\
         max_in_flight = 256\n\n\
         [connections.c00001]\ndestination = \"hooks\"\nsource = \"snapshot\"\n\
         base_url = \"{ehr}\"\ninterval_secs = {INTERVAL_SECS}\nlist_path = \"/schedule\"\n\
         list_query = \"from={{now-7d}}&to={{now+21d}}&limit={PAGE_SIZE}\"\n\
         window_start = \"now-7d\"\nwindow_end = \"now+21d\"\nitems_pointer = \"/items\"\n\
         key_pointer = \"/id\"\ndate_pointer = \"/start\"\n\
         compare = [\"/status\", \"/start\", \"/end\", \"/patientId\"]\n\
         next_pointer = \"/next\"\ntotal_pointer = \"/total\"\n\
         confirm_path = \"/schedule/{{/key}}\"\ninitial = \"baseline\"\n\
         event_prefix = \"appointment\"\n"
    )
}

/// Starts the schedule, the receiver and `courier run` (logging at info: one line per
/// listing).
fn start(bench: &Bench) -> Run {
    let mut command = Command::new(&bench.harness);
    command
        .arg("schedule")
        .arg("--records")
        .arg(WINDOW_RECORDS.to_string());
    let ehr = Proc::spawn_ready("schedule EHR", command);
    let (base, control) = ehr.ready.split_once(' ').expect("READY <base> <control>");
    let (base, control) = (base.to_owned(), control.to_owned());
    let receiver = bench.receiver();
    let store = bench.work.join("snapshot.store");
    let _ = std::fs::remove_dir_all(&store);
    let config = bench.work.join("snapshot.toml");
    let text = config_toml(&store, &base, &receiver.ready);
    std::fs::write(&config, text).expect("writing the configuration");
    let courier = bench.courier_logging("snapshot", &config, "warn,courier=info");
    let log_path = bench.work.join("snapshot.log");
    let file = std::fs::File::open(log_path).expect("Courier's log");
    Run {
        ehr,
        control,
        receiver,
        courier,
        log: LogTail {
            file,
            text: String::new(),
        },
        store,
    }
}

/// The scenario: a baseline, steady listings, then listings after 1% changed.
pub fn scenario(bench: &Bench, results: &mut Results) {
    let started = Instant::now();
    let mut run = start(bench);
    let baseline = run.wait_listing(1, 0);
    let baseline_store = dir_bytes(&run.store);
    let baseline_peak = run.courier.sample().peak_rss_kb;
    let mut steady = Vec::new();
    for n in 2..=1 + STEADY_LISTINGS {
        let before = run.listing_requests();
        steady.push(run.wait_listing(n, before));
    }
    let steady_store = dir_bytes(&run.store);
    let mut changed = Vec::new();
    let mut delivered = Vec::new();
    let (mut made, mut expected) = (0u64, tally(&run.receiver).unique);
    for n in 2 + STEADY_LISTINGS..=1 + STEADY_LISTINGS + CHANGED_LISTINGS {
        let before = run.listing_requests();
        let count: u64 = http(
            &run.control,
            "POST",
            &format!("/change?percent={CHANGED_PERCENT}"),
        )
        .trim()
        .parse()
        .expect("the number of changes");
        made += count;
        let listing = run.wait_listing(n, before);
        let was = expected;
        expected += listing.detected();
        delivered.push(run.wait_delivered(expected).saturating_sub(was));
        changed.push((count, listing));
    }
    let end = run.courier.sample();
    let changed_store = dir_bytes(&run.store);
    let received = tally(&run.receiver);
    let exit = stop(run);
    let figures = Figures {
        baseline,
        steady,
        changed,
        delivered,
        made,
        stores: [baseline_store, steady_store, changed_store],
        peaks: [baseline_peak, end.peak_rss_kb],
        duplicates: received.duplicates,
        wall_secs: started.elapsed().as_secs_f64(),
    };
    figures.report(results, &exit);
}

fn stop(run: Run) -> String {
    let Run {
        courier,
        ehr,
        receiver,
        ..
    } = run;
    let code = courier.terminate(Duration::from_secs(20));
    drop((ehr, receiver));
    match code {
        Some(0) => String::new(),
        other => format!(" Courier's exit at SIGTERM: {other:?}."),
    }
}
