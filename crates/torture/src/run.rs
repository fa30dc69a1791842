//! One torture run: starts the simulated EHR and the flaky receiver, runs `courier run` and
//! kills it per the plan, takes the destination and then the EHR down mid-run, waits for
//! every change, stops Courier, and gathers the figures.

use std::cell::{Cell, RefCell};
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

use courier::store::Store;
use courier_sim::disk::Tmpfs;
use courier_sim::{
    EhrControl, Fault, ReceiverControl, ReceiverOptions, SimEhr, SimEhrOptions, SimReceiver,
};
use courier_wire::SigningKey;

use crate::changes::{generate, missing_versions};
use crate::child::{scan_logs, Courier, Launcher};
use crate::plan::{plan, Kill, Moment, PlannedOutage};
use crate::report::{Figures, KillRecord, OutageRecord};
use crate::Settings;

/// The connection the torture configures.
const CONNECTION: &str = "clinic-a";
/// No new delivery for this long, outside an outage, is reported as a stall.
const STALL: Duration = Duration::from_secs(30);
/// Exits on its own, in all, after which the run fails instead of restarting again: a store
/// that cannot be opened makes every start exit at once.
const MAX_UNEXPECTED_EXITS: usize = 20;
/// An outage counts as going on for this long after it ends, while retries and backoffs
/// catch up.
const OUTAGE_TAIL: Duration = Duration::from_secs(15);
/// The outages start at these shares of the changes delivered.
const DESTINATION_DOWN_AT: f64 = 0.3;
const EHR_DOWN_AT: f64 = 0.6;
const DISK_FULL_AT: f64 = 0.8;
/// The tmpfs the store lives on for the disk-full phase; tmpfs takes memory only for what
/// is written, and a run's store stays far below this.
const STORE_DISK_MB: u32 = 2048;
/// How often the wait loops look at the receiver and the process.
const TICK: Duration = Duration::from_millis(10);
/// How long the EHR holds a consume-once read's answer for a kill: longer than any kill
/// takes to land (the reader dies holding it).
const HOLD: Duration = Duration::from_secs(20);
/// A kill comes without a held read if none was held within this long.
const HOLD_WITHIN: Duration = Duration::from_secs(10);
/// How long the final SIGTERM may take.
const STOP_WITHIN: Duration = Duration::from_secs(30);
/// A progress kill comes anyway after waiting this long outside an outage (a stall)...
const KILL_ANYWAY_OUTSIDE_OUTAGES: Duration = Duration::from_secs(30);
/// ...or this long in all.
const KILL_ANYWAY: Duration = Duration::from_secs(300);

/// Runs the torture to its end and returns what it measured.
pub async fn torture(settings: Settings) -> Result<Figures, String> {
    let s = &settings;
    prepare_dir(&s.dir)?;
    let disk = store_disk(s).map(Rc::new);
    let ehr = SimEhr::start(SimEhrOptions {
        patients: 1_000,
        appointments: 5_000,
        initial_changes: s.backlog as usize,
        change_every: None,
        seed: s.seed,
    })
    .map_err(|e| format!("starting the simulated EHR: {e}"))?;
    let secret = SigningKey::generate_secret();
    let receiver = SimReceiver::start(ReceiverOptions {
        keep_requests: false,
        ..ReceiverOptions::new(secret.clone())
    })
    .map_err(|e| format!("starting the receiver: {e}"))?;
    receiver.fail_randomly(s.failure_rate);
    let config = crate::config::single(
        &s.dir.join("store"),
        s.destination_down,
        (CONNECTION, s.consume_once),
        &ehr.base_url(),
        &receiver.url(),
    );
    std::fs::write(s.dir.join("courier.toml"), config).map_err(|e| e.to_string())?;
    eprintln!(
        "courier-torture: seed {}, {} changes ({} backlog), {} kills, destination down {:?}, \
         EHR down {:?}; working in {}",
        s.seed,
        s.changes,
        s.backlog,
        s.kills,
        s.destination_down,
        s.ehr_down,
        s.dir.display()
    );

    let started = Instant::now();
    let clock = Clock(started);
    let generator = actix_rt::spawn(generate(
        vec![ehr.control()],
        s.changes - s.backlog,
        s.rate,
        s.seed,
    ));
    let outages = Rc::new(Outages::default());
    let outage_task = actix_rt::spawn(run_outages(
        receiver.control(),
        ehr.control(),
        s.clone(),
        clock,
        Rc::clone(&outages),
        disk.clone(),
    ));
    let kills_done = Rc::new(Cell::new(0));
    let progress = actix_rt::spawn(print_progress(
        receiver.control(),
        s.changes,
        s.kills,
        clock,
        Rc::clone(&kills_done),
        Rc::clone(&outages),
    ));

    let mut launcher = Launcher::single(s.courier.clone(), s.dir.clone(), secret);
    let first = launcher
        .start()
        .map_err(|e| format!("starting courier: {e}"))?;
    let mut torture = Torture {
        launcher,
        courier: Some(first),
        receiver: receiver.control(),
        clock,
        outages: Rc::clone(&outages),
        kills: Vec::new(),
        restarts: 0,
        unexpected_exits: Vec::new(),
        duplicates_at_start: vec![0],
        stalls: Vec::new(),
        changes: s.changes as usize,
        last_progress: (0, Instant::now()),
        held_kills: 0,
    };
    let mut rng = fastrand::Rng::with_seed(s.seed);
    let planned = [
        PlannedOutage {
            share: DESTINATION_DOWN_AT,
            length: s.destination_down,
        },
        PlannedOutage {
            share: EHR_DOWN_AT,
            length: s.ehr_down,
        },
    ];
    for kill in plan(s.kills, s.changes, &planned, &mut rng) {
        torture.wait_for(&kill).await?;
        let held = match (s.consume_once, kill.kind()) {
            (true, "mid-flow" | "in outage") => torture.hold_a_read(&ehr).await?,
            _ => false,
        };
        torture.held_kills += usize::from(held);
        torture.kill_and_restart(&kill).await?;
        kills_done.set(torture.kills.len());
    }
    let deadline = Instant::now() + s.timeout;
    let target = s.changes as usize;
    let completed = torture
        .wait_until(deadline, |t| {
            t.receiver.unique_accepted_ids() >= target && outage_task.is_finished()
        })
        .await?;
    let drained_after = completed.then(|| started.elapsed());
    torture.settle().await?;
    progress.abort();
    generator.abort();
    outage_task.abort();

    let final_exit = match torture.courier.take() {
        Some(courier) => match courier.terminate(STOP_WITHIN).await {
            Ok(Some(status)) => status.to_string(),
            Ok(None) => format!("no exit within {STOP_WITHIN:?}"),
            Err(e) => format!("error: {e}"),
        },
        None => "not running".to_owned(),
    };
    let (pending_after_stop, dead_letters) = match Store::open(&s.dir.join("store")) {
        Ok(store) => (
            Some(store.pending_count()),
            store.dead_letters().await.ok().map(|d| d.len()),
        ),
        Err(e) => {
            eprintln!("courier-torture: opening the store after the stop: {e}");
            (None, None)
        }
    };
    let logs = scan_logs(&torture.launcher.logs);
    let outage_records = outages.records.borrow().clone();
    let summary = receiver.summary();
    let mut duplicates_per_run: Vec<usize> = torture
        .duplicates_at_start
        .windows(2)
        .map(|w| w[1] - w[0])
        .collect();
    duplicates_per_run
        .push(summary.duplicates - torture.duplicates_at_start.last().copied().unwrap_or(0));
    Ok(Figures {
        changes: s.changes,
        ehr_changes: ehr.change_count(),
        backlog: s.backlog,
        rate: s.rate,
        failure_rate: s.failure_rate,
        summary,
        requests: summary.delivered + summary.duplicates + summary.failures,
        audit: receiver.audit(),
        missing_versions: missing_versions(&receiver.control(), CONNECTION, s.changes),
        connection: CONNECTION.to_owned(),
        kills: torture.kills,
        consume_once: s
            .consume_once
            .then(|| (torture.held_kills, ehr.processed_count())),
        restarts: torture.restarts,
        unexpected_exits: torture.unexpected_exits,
        duplicates_per_run,
        outages: outage_records,
        stalls: torture.stalls,
        completed,
        final_exit,
        pending_after_stop,
        dead_letters,
        panics: logs.panics,
        errors: logs.errors,
        elapsed: started.elapsed(),
        drained_after,
    })
}

/// Seconds since the torture started.
#[derive(Debug, Clone, Copy)]
struct Clock(Instant);

impl Clock {
    fn secs(self) -> f64 {
        self.0.elapsed().as_secs_f64()
    }
}

/// The outages so far, and whether one is going on (or just ended).
#[derive(Debug, Default)]
struct Outages {
    records: RefCell<Vec<OutageRecord>>,
    /// Whether an outage is going on now (its tail excluded).
    active: Cell<bool>,
    /// When each outage (destination, EHR, disk) began.
    began: RefCell<[Option<Instant>; 3]>,
    /// Until when progress may stand still without counting as a stall.
    excused_until: Cell<Option<Instant>>,
}

impl Outages {
    fn excused(&self) -> bool {
        self.excused_until
            .get()
            .is_some_and(|until| Instant::now() < until)
    }
}

/// The state of the kill loop.
struct Torture {
    launcher: Launcher,
    courier: Option<Courier>,
    receiver: ReceiverControl,
    clock: Clock,
    outages: Rc<Outages>,
    kills: Vec<KillRecord>,
    restarts: usize,
    unexpected_exits: Vec<String>,
    /// The receiver's duplicate count when each run started.
    duplicates_at_start: Vec<usize>,
    stalls: Vec<String>,
    /// The distinct deliveries that complete the run; no stall after them.
    changes: usize,
    /// Distinct deliveries when they last grew, and when.
    last_progress: (usize, Instant),
    /// Kills that landed while the EHR held a consume-once read's answer.
    held_kills: usize,
}

impl Torture {
    fn uptime(&self) -> Duration {
        self.courier
            .as_ref()
            .map_or(Duration::ZERO, Courier::uptime)
    }

    async fn wait_for(&mut self, kill: &Kill) -> Result<(), String> {
        let since = Instant::now();
        let deadline = since + KILL_ANYWAY;
        match kill.moment {
            Moment::AfterStart(after) => {
                let left = after.saturating_sub(self.uptime());
                actix_rt::time::sleep(left).await;
                self.watch()
            }
            Moment::AtProgress {
                delivered,
                at_least,
            } => self
                .wait_until(deadline, |t| {
                    let reached = t.receiver.unique_accepted_ids() as u64 >= delivered;
                    let stalled =
                        since.elapsed() >= KILL_ANYWAY_OUTSIDE_OUTAGES && !t.outages.excused();
                    (reached && t.uptime() >= at_least) || stalled
                })
                .await
                .map(drop),
            Moment::InOutage { outage, after } => self
                .wait_until(deadline, |t| {
                    t.outages.began.borrow()[outage].is_some_and(|at| at.elapsed() >= after)
                })
                .await
                .map(drop),
        }
    }

    /// Waits until `done` or `deadline`, watching the process and progress; returns `done`.
    async fn wait_until(
        &mut self,
        deadline: Instant,
        done: impl Fn(&Self) -> bool,
    ) -> Result<bool, String> {
        loop {
            self.watch()?;
            if done(self) {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            actix_rt::time::sleep(TICK).await;
        }
    }

    /// Restarts a process that exited on its own, and notes a stall.
    fn watch(&mut self) -> Result<(), String> {
        let delivered = self.receiver.unique_accepted_ids();
        let done = delivered >= self.changes;
        if delivered > self.last_progress.0 || self.outages.excused() || done {
            self.last_progress = (delivered, Instant::now());
        } else if self.last_progress.1.elapsed() >= STALL {
            self.stalls.push(format!(
                "no new delivery for {STALL:?} up to {:.1} s, at {delivered} delivered",
                self.clock.secs()
            ));
            self.last_progress = (delivered, Instant::now());
        }
        let Some(courier) = self.courier.as_mut() else {
            return Ok(());
        };
        if let Some(status) = courier.exited().map_err(|e| e.to_string())? {
            self.unexpected_exits.push(format!(
                "run {} exited on its own with {status} after {:?}, at {:.1} s",
                self.launcher.logs.len() - 1,
                courier.uptime(),
                self.clock.secs()
            ));
            self.courier = None;
            if self.unexpected_exits.len() >= MAX_UNEXPECTED_EXITS {
                // A Courier that cannot start (an unreadable store) would be restarted forever.
                return Err(format!(
                    "courier exited on its own {MAX_UNEXPECTED_EXITS} times; the last run's log \
                     is {}",
                    self.launcher
                        .logs
                        .last()
                        .map_or(String::new(), |l| l.display().to_string())
                ));
            }
            self.restart()?;
        }
        Ok(())
    }

    /// Makes the EHR hold the answer of the consume-once feed's next read, after marking its
    /// changes processed, and waits until a read is held: a kill then lands between that GET
    /// and its commit. False when no read came within [`HOLD_WITHIN`] (an EHR outage).
    async fn hold_a_read(&mut self, ehr: &EhrControl) -> Result<bool, String> {
        let before = ehr.consume_holds();
        ehr.fault_consume(Fault::Hang(HOLD), 1);
        let deadline = Instant::now() + HOLD_WITHIN;
        self.wait_until(deadline, |_| ehr.consume_holds() > before)
            .await
    }

    async fn kill_and_restart(&mut self, kill: &Kill) -> Result<(), String> {
        let courier = self.courier.take().ok_or("no courier to kill")?;
        let record = KillRecord {
            at_secs: self.clock.secs(),
            uptime: courier.uptime(),
            // What the kill actually hit: an outage kill that came late is a mid-flow kill.
            kind: match kill.kind() {
                "recovery" => "recovery",
                _ if self.outages.active.get() => "in outage",
                _ => "mid-flow",
            },
            delivered: self.receiver.unique_accepted_ids(),
        };
        courier.kill().map_err(|e| format!("SIGKILL: {e}"))?;
        eprintln!(
            "[{:7.1} s] kill {:2}: after {:.3} s of life ({}), {} delivered; restart in {:?}",
            record.at_secs,
            self.kills.len() + 1,
            record.uptime.as_secs_f64(),
            record.kind,
            record.delivered,
            kill.pause
        );
        self.kills.push(record);
        actix_rt::time::sleep(kill.pause).await;
        self.restart()
    }

    fn restart(&mut self) -> Result<(), String> {
        self.duplicates_at_start
            .push(self.receiver.summary().duplicates);
        self.courier = Some(
            self.launcher
                .start()
                .map_err(|e| format!("restarting courier: {e}"))?,
        );
        self.restarts += 1;
        Ok(())
    }

    /// Lets late duplicates land: waits until the receiver has had no request for a second
    /// (at most 15 s).
    async fn settle(&mut self) -> Result<(), String> {
        let requests = |t: &Self| {
            let s = t.receiver.summary();
            s.delivered + s.duplicates + s.failures
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut last = (requests(self), Instant::now());
        while Instant::now() < deadline && last.1.elapsed() < Duration::from_secs(1) {
            self.watch()?;
            actix_rt::time::sleep(Duration::from_millis(50)).await;
            let now = requests(self);
            if now != last.0 {
                last = (now, Instant::now());
            }
        }
        Ok(())
    }
}

/// A tmpfs mounted where the store goes, for the disk-full phase; `None`, saying why, where
/// the phase is off or no tmpfs can be mounted (not root).
fn store_disk(s: &Settings) -> Option<Tmpfs> {
    if s.disk_full.is_zero() {
        return None;
    }
    match Tmpfs::mount_on(&s.dir.join("store"), STORE_DISK_MB) {
        Ok(disk) => Some(disk),
        Err(err) => {
            eprintln!("courier-torture: no disk-full phase: the store's tmpfs: {err}");
            None
        }
    }
}

fn prepare_dir(dir: &Path) -> Result<(), String> {
    if dir.join("store").exists() {
        return Err(format!(
            "{} already holds a store; give a new --dir",
            dir.display()
        ));
    }
    std::fs::create_dir_all(dir.join("logs"))
        .map_err(|e| format!("creating {}: {e}", dir.display()))
}

/// The destination down (503 to everything) once 30% of the changes arrived, then the EHR
/// down (503 to every request) once 60% did.
async fn run_outages(
    receiver: ReceiverControl,
    ehr: EhrControl,
    s: Settings,
    clock: Clock,
    outages: Rc<Outages>,
    disk: Option<Rc<Tmpfs>>,
) {
    let share = |x: f64| (s.changes as f64 * x) as usize;
    let begin = |index: usize, what: &'static str, length: Duration| {
        eprintln!("[{:7.1} s] {what} for {length:?}", clock.secs());
        outages.began.borrow_mut()[index] = Some(Instant::now());
        outages.active.set(true);
        outages
            .excused_until
            .set(Some(Instant::now() + length + OUTAGE_TAIL));
        clock.secs()
    };
    let end = |what: &'static str, from_secs: f64, note: Option<String>| {
        eprintln!("[{:7.1} s] {what} over", clock.secs());
        outages.active.set(false);
        outages.records.borrow_mut().push(OutageRecord {
            what,
            from_secs,
            to_secs: clock.secs(),
            note,
        });
    };
    if !s.destination_down.is_zero() {
        receiver
            .wait_for_distinct(share(DESTINATION_DOWN_AT), Duration::MAX / 4)
            .await;
        let what = "destination answering 503";
        let from = begin(0, what, s.destination_down);
        receiver.always(503);
        actix_rt::time::sleep(s.destination_down).await;
        receiver.always(200);
        end(what, from, None);
    }
    if !s.ehr_down.is_zero() {
        receiver
            .wait_for_distinct(share(EHR_DOWN_AT), Duration::MAX / 4)
            .await;
        let what = "EHR answering 503";
        let from = begin(1, what, s.ehr_down);
        ehr.set_outage(Some(Fault::Status(503)));
        actix_rt::time::sleep(s.ehr_down).await;
        ehr.set_outage(None);
        end(what, from, None);
    }
    if let Some(disk) = disk {
        receiver
            .wait_for_distinct(share(DISK_FULL_AT), Duration::MAX / 4)
            .await;
        let what = "disk full under the store";
        let from = begin(2, what, s.disk_full);
        let duplicates = receiver.summary().duplicates;
        let note = match disk.fill() {
            Ok(filler) => {
                actix_rt::time::sleep(s.disk_full).await;
                let removed = filler.remove();
                let healed = first_delivery_after(&receiver, s.changes as usize).await;
                let more = receiver.summary().duplicates - duplicates;
                removed.err().map_or_else(
                    || {
                        format!(
                            "first new delivery {:.1} s after the disk had room; {more} duplicates \
                             from the fill to then",
                            healed.map_or(f64::NAN, |took| took.as_secs_f64())
                        )
                    },
                    |err| format!("the filler could not be removed: {err}"),
                )
            }
            Err(err) => format!("the disk could not be filled: {err}"),
        };
        end(what, from, Some(note));
    }
}

/// How long until the receiver accepts a notification it had not, if any is left to deliver.
async fn first_delivery_after(receiver: &ReceiverControl, changes: usize) -> Option<Duration> {
    let start = Instant::now();
    let before = receiver.unique_accepted_ids();
    while before < changes && start.elapsed() < KILL_ANYWAY {
        if receiver.unique_accepted_ids() > before {
            return Some(start.elapsed());
        }
        actix_rt::time::sleep(TICK).await;
    }
    None
}

/// One line every 5 s on stderr.
async fn print_progress(
    receiver: ReceiverControl,
    changes: u64,
    kills: usize,
    clock: Clock,
    kills_done: Rc<Cell<usize>>,
    outages: Rc<Outages>,
) {
    let mut previous = 0;
    loop {
        actix_rt::time::sleep(Duration::from_secs(5)).await;
        let summary = receiver.summary();
        eprintln!(
            "[{:7.1} s] delivered {}/{changes} (+{}/s), duplicates {}, refused {}, kills {}/{kills}{}",
            clock.secs(),
            summary.delivered,
            (summary.delivered - previous) / 5,
            summary.duplicates,
            summary.failures,
            kills_done.get(),
            if outages.excused() { ", outage" } else { "" },
        );
        previous = summary.delivered;
    }
}
