//! The delivery guarantees across process death, proven on the real `courier run` binary: it
//! is killed with SIGKILL or stopped with SIGTERM in the middle of a flow and started again on
//! the same store, while the simulated EHR and receiver run inside the test. Every change must
//! still arrive, with its original id and sequence; duplicates are bounded and come only from
//! a kill.

use std::collections::{hash_map::Entry, BTreeSet, HashMap};
use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use courier::delivery::signing::SigningKey;
use courier::sim::{ReceiverOptions, SimEhr, SimEhrOptions, SimReceiver};
use courier::store::Store;

use crate::support::app::{config_text, eventually, ConnectionSpec, PATIENCE, SECRET_ENV};

/// How long a graceful stop may take: the test configuration's 2 s shutdown grace, plus
/// start-up and flushing.
const STOP_WITHIN: Duration = Duration::from_secs(5);

/// The most duplicates one SIGKILL may cause with the harness's windows. A notification is
/// sent again after a kill when the receiver acknowledged it but its removal from the store
/// was not yet on disk: removals are not flushed on their own, only with the next page commit
/// or sled's background flush (every 500 ms). While a backlog drains, a page is committed for
/// every `page_size` (50) containers taken in, so at most that page plus the pipeline behind
/// it, `max_concurrent_enrichments` (32) and the destination's `max_in_flight` (64), can be
/// acknowledged and not yet flushed.
const DUPLICATES_PER_KILL: usize = 50 + 32 + 64;

/// The simulated EHR and receiver of one test, and the files `courier run` is started with.
struct Rig {
    ehr: SimEhr,
    receiver: SimReceiver,
    secret: String,
    dir: tempfile::TempDir,
    /// The log files of every run so far; printed when the test fails.
    logs: Vec<PathBuf>,
}

impl Rig {
    /// Starts the EHR and the receiver and writes `courier.toml` for one connection
    /// `clinic-a`, with the store in the test's temporary directory.
    fn new(ehr_options: SimEhrOptions, destination_extra: &str) -> Rig {
        let ehr = SimEhr::start(ehr_options).expect("simulated EHR starts");
        let secret = SigningKey::generate_secret();
        let receiver = SimReceiver::start(ReceiverOptions {
            secret: secret.clone(),
            print: false,
        })
        .expect("receiver starts");
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
        }
    }

    /// Starts `courier run` on this rig's configuration and store, logging to files.
    fn start(&mut self) -> Courier {
        let run = self.logs.len() / 2 + 1;
        let out = self.dir.path().join(format!("run-{run}.stdout"));
        let err = self.dir.path().join(format!("run-{run}.stderr"));
        let child = Command::new(env!("CARGO_BIN_EXE_courier"))
            .arg("run")
            .arg("--config")
            .arg(self.dir.path().join("courier.toml"))
            .current_dir(self.dir.path())
            .env_clear()
            .env(SECRET_ENV, &self.secret)
            .env("RUST_LOG", "warn")
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
    fn requests(&self) -> usize {
        let summary = self.receiver.summary();
        summary.delivered + summary.duplicates + summary.failures
    }

    /// Distinct notification ids the receiver acknowledged.
    fn delivered(&self) -> usize {
        self.receiver.unique_accepted_ids()
    }

    /// Opens the store the stopped process left behind.
    fn store(&self) -> Store {
        Store::open(&self.dir.path().join("store")).expect("the store opens after a stop")
    }

    /// Everything every run printed.
    fn log_text(&self) -> String {
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
struct Courier {
    child: Child,
}

impl Courier {
    /// SIGKILL: the process dies at once, with whatever it had in memory.
    fn kill(mut self) {
        self.child.kill().expect("SIGKILL is sent");
        self.child.wait().expect("the killed process is reaped");
    }

    /// SIGTERM, then waits for the exit; returns its status and how long the stop took.
    async fn terminate(mut self) -> (ExitStatus, Duration) {
        let pid = self.child.id().to_string();
        let start = Instant::now();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill(1) runs");
        assert!(sent.success(), "kill -TERM {pid} failed");
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting for courier") {
                return (status, start.elapsed());
            }
            assert!(
                start.elapsed() < STOP_WITHIN,
                "courier did not exit within {STOP_WITHIN:?} of SIGTERM"
            );
            actix_rt::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// SIGTERM, asserting a clean exit in time.
    async fn stop(self) -> Duration {
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

/// One accepted notification, as far as identity goes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Identity {
    sequence: u64,
    key: String,
    version: String,
}

/// Checks what the receiver accepted against the EHR's changes log: every change delivered,
/// sequences exactly 1..=N, every duplicate with its original's id *and* sequence, every
/// signature verified. Returns the number of duplicates.
fn assert_every_change_delivered(rig: &Rig) -> usize {
    let changes = rig.ehr.change_count();
    let summary = rig.receiver.summary();
    assert!(summary.all_verified, "every signature verifies");
    let accepted = rig.receiver.accepted();
    let mut by_id: HashMap<String, Identity> = HashMap::new();
    let mut by_sequence: HashMap<u64, String> = HashMap::new();
    for request in &accepted {
        let data = &request.json["data"];
        let identity = Identity {
            sequence: data["sequence"].as_u64().expect("a sequence"),
            key: data["key"].as_str().expect("a key").to_owned(),
            version: data["version"].as_str().expect("a version").to_owned(),
        };
        assert_eq!(
            request.json["id"],
            request.id.as_str(),
            "body id is webhook-id"
        );
        let owner = by_sequence
            .entry(identity.sequence)
            .or_insert_with(|| request.id.clone());
        assert_eq!(
            *owner, request.id,
            "sequence {} was given to two notifications",
            identity.sequence
        );
        match by_id.entry(request.id.clone()) {
            Entry::Occupied(original) => assert_eq!(
                original.get(),
                &identity,
                "duplicate {} differs from its original",
                request.id
            ),
            Entry::Vacant(slot) => {
                slot.insert(identity);
            }
        }
    }
    let sequences: BTreeSet<u64> = by_id.values().map(|i| i.sequence).collect();
    assert_eq!(
        sequences,
        (1..=changes).collect(),
        "sequences exactly 1..={changes}"
    );
    let pairs: BTreeSet<(&str, &str)> = by_id
        .values()
        .map(|i| (i.key.as_str(), i.version.as_str()))
        .collect();
    assert_eq!(pairs.len() as u64, changes, "distinct (key, version) pairs");
    // The harness configures `version_pointer = "/seq"`: the versions are the EHR's change
    // numbers, so this says that each entry of the EHR's log was delivered.
    let versions: BTreeSet<u64> = by_id
        .values()
        .map(|i| i.version.parse().expect("a numeric version"))
        .collect();
    assert_eq!(versions, (1..=changes).collect(), "every change of the EHR");
    let duplicates = accepted.len() - by_id.len();
    assert_eq!(duplicates, summary.duplicates);
    duplicates
}

/// Duplicates by the run that sent them; `starts` holds the receiver's request count when
/// each run started, so a request belongs to the last run started before it arrived.
fn duplicates_per_run(rig: &Rig, starts: &[usize]) -> Vec<usize> {
    let mut seen = BTreeSet::new();
    let mut per_run = vec![0; starts.len()];
    for (index, request) in rig.receiver.received().iter().enumerate() {
        if request.accepted() && !seen.insert(request.id.clone()) {
            let run = starts
                .iter()
                .rposition(|start| *start <= index)
                .unwrap_or(0);
            per_run[run] += 1;
        }
    }
    per_run
}

/// After the last graceful stop nothing is left pending and nothing was dead-lettered.
fn assert_store_drained(rig: &Rig) {
    let store = rig.store();
    assert_eq!(
        store.pending_count(),
        0,
        "delivered containers leave the store"
    );
    assert!(store.dead_letters().unwrap().is_empty(), "no dead letters");
}

fn assert_secret_not_logged(rig: &Rig) {
    assert!(
        !rig.log_text().contains(&rig.secret),
        "a run logged the secret"
    );
}

/// An EHR with `changes` already waiting when Courier first starts.
fn backlog(changes: usize) -> SimEhrOptions {
    SimEhrOptions {
        patients: 10,
        appointments: 50,
        initial_changes: changes,
        ..SimEhrOptions::default()
    }
}

#[actix_rt::test]
async fn sigkill_mid_flow_and_during_recovery_loses_nothing_and_duplicates_keep_their_ids() {
    let started = Instant::now();
    let mut rig = Rig::new(backlog(400), "");
    // Slow enough that the first kill, at 50 deliveries, leaves most of the backlog to do.
    rig.ehr.set_latency(Duration::from_millis(5));
    let mut starts = Vec::new();
    let mut kills = Vec::new();

    // Mid-flow: the store holds polled containers in every stage.
    starts.push(rig.requests());
    let first = rig.start();
    eventually("50 deliveries before the first kill", PATIENCE, || {
        rig.delivered() >= 50
    })
    .await;
    first.kill();
    kills.push(rig.delivered());

    // During recovery: the restarted process is re-sending what it found in the store.
    starts.push(rig.requests());
    let second = rig.start();
    eventually("the restarted process delivering", PATIENCE, || {
        rig.requests() >= starts[1] + 5
    })
    .await;
    second.kill();
    kills.push(rig.delivered());

    // Mid-flow again, well into the backlog.
    starts.push(rig.requests());
    let third = rig.start();
    let target = (rig.delivered() + 100).min(350);
    eventually("100 more deliveries", PATIENCE, || {
        rig.delivered() >= target
    })
    .await;
    third.kill();
    kills.push(rig.delivered());

    starts.push(rig.requests());
    let last = rig.start();
    eventually("all 400 changes delivered", PATIENCE, || {
        rig.delivered() == 400
    })
    .await;
    last.stop().await;

    let duplicates = assert_every_change_delivered(&rig);
    let per_run = duplicates_per_run(&rig, &starts);
    assert_eq!(
        per_run[0], 0,
        "one process never sends a notification twice"
    );
    for (kill, after) in per_run[1..].iter().enumerate() {
        assert!(
            *after <= DUPLICATES_PER_KILL,
            "{after} duplicates after kill {}; per run: {per_run:?}",
            kill + 1
        );
    }
    assert_store_drained(&rig);
    assert_secret_not_logged(&rig);
    println!(
        "sigkill: killed at {kills:?} delivered; duplicates per run {per_run:?} = {duplicates} \
         in {} requests; {:?}",
        rig.requests(),
        started.elapsed()
    );
}

#[actix_rt::test]
async fn sigterm_stops_cleanly_and_the_next_start_delivers_everything() {
    let started = Instant::now();
    let mut rig = Rig::new(backlog(0), "");
    rig.ehr.set_latency(Duration::from_millis(2));
    // A steady flow that goes on while Courier is down: a change every 5 ms.
    let control = rig.ehr.control();
    let flow = actix_rt::spawn(async move {
        loop {
            actix_rt::time::sleep(Duration::from_millis(5)).await;
            control.touch_random();
        }
    });

    let first = rig.start();
    eventually("50 deliveries", PATIENCE, || rig.delivered() >= 50).await;
    let stop_took = first.stop().await;
    let stopped_at = rig.delivered();

    let second = rig.start();
    eventually("50 more deliveries after the restart", PATIENCE, || {
        rig.delivered() >= stopped_at + 50
    })
    .await;
    flow.abort();
    let changes = rig.ehr.change_count() as usize;
    eventually("every change delivered", PATIENCE, || {
        rig.delivered() == changes
    })
    .await;
    second.stop().await;

    let duplicates = assert_every_change_delivered(&rig);
    // The stop waited for the requests in flight and flushed the store: nothing the receiver
    // acknowledged is sent again.
    assert_eq!(duplicates, 0, "duplicates after a graceful stop");
    assert_store_drained(&rig);
    assert_secret_not_logged(&rig);
    println!(
        "sigterm: stopped in {stop_took:?} at {stopped_at} delivered; {changes} changes, \
         {duplicates} duplicates; {:?}",
        started.elapsed()
    );
}

#[actix_rt::test]
async fn notifications_for_a_destination_that_is_down_survive_sigkill() {
    let started = Instant::now();
    // Quick first retries, then a long wait: at the kill every notification has failed and is
    // waiting in the store, none dead-lettered.
    let mut rig = Rig::new(backlog(20), "retry_schedule_secs = [0.05, 0.1, 60]");
    rig.receiver.always(503);

    let first = rig.start();
    eventually(
        "a failed attempt for each of the 20 changes",
        PATIENCE,
        || {
            let failed: BTreeSet<String> = rig
                .receiver
                .received()
                .into_iter()
                .filter(|r| r.answered == 503)
                .map(|r| r.id)
                .collect();
            failed.len() == 20
        },
    )
    .await;
    first.kill();
    assert_eq!(rig.delivered(), 0, "the destination acknowledged nothing");
    let failed = rig.requests();

    rig.receiver.always(200);
    let second = rig.start();
    eventually("the 20 changes delivered", PATIENCE, || {
        rig.delivered() == 20
    })
    .await;
    second.stop().await;

    let duplicates = assert_every_change_delivered(&rig);
    assert_eq!(duplicates, 0, "nothing was acknowledged before the kill");
    assert_store_drained(&rig);
    assert_secret_not_logged(&rig);
    println!(
        "destination down: {failed} failed requests before the kill; {:?}",
        started.elapsed()
    );
}
