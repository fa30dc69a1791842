//! The event loop of the cluster torture: it keeps the instances as the plan says (continued
//! and restarted when due), carries out each event on an instance that runs, restarts the
//! database in the background, and prints the progress.

use std::rc::Rc;
use std::time::{Duration, Instant};

use courier_sim::ReceiverControl;

use super::database::Database;
use super::instances::{Exits, Instance};
use super::plan::{Action, Event};
use super::report::EventRecord;

/// How often the loops look at the instances and the receiver.
const TICK: Duration = Duration::from_millis(10);
/// An instance exiting this soon after the database came back is still excused: it tried to
/// connect while the database was down.
const DATABASE_GRACE: Duration = Duration::from_secs(2);

/// The state of the event loop.
pub(super) struct Run {
    pub(super) instances: Vec<Instance>,
    pub(super) receiver: ReceiverControl,
    pub(super) database: Rc<Database>,
    pub(super) started: Instant,
    pub(super) events: Vec<EventRecord>,
    /// Exits nobody asked for, described.
    pub(super) exits: Exits,
    /// The database restart, while or once it runs.
    /// Once done: when the database accepted connections again, seconds since the start.
    pub(super) database_restart: Option<actix_rt::task::JoinHandle<Result<f64, String>>>,
    /// When the database restart was seen finished.
    pub(super) database_back: Option<Instant>,
    /// When the last progress line was printed.
    pub(super) last_report: Instant,
    pub(super) changes: u64,
}

impl Run {
    fn secs(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Waits `length`, keeping the instances as planned.
    pub(super) async fn wait(&mut self, length: Duration) -> Result<(), String> {
        let until = Instant::now() + length;
        self.wait_until(until, |_| false).await.map(drop)
    }

    /// Waits until `done` or `deadline`, keeping the instances as planned; returns `done`.
    pub(super) async fn wait_until(
        &mut self,
        deadline: Instant,
        done: impl Fn(&Self) -> bool,
    ) -> Result<bool, String> {
        loop {
            let database_down = self.database_down();
            for instance in &mut self.instances {
                instance.tick(self.started, &mut self.exits, database_down)?;
            }
            self.report_progress();
            if done(self) {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            actix_rt::time::sleep(TICK).await;
        }
    }

    /// Carries out one event: on its instance if that one runs, else on the next that does
    /// (waiting for one if none does).
    pub(super) async fn apply(&mut self, event: &Event) -> Result<(), String> {
        let delivered = self.receiver.unique_accepted_ids();
        let (instance, detail) = match event.action {
            Action::RestartDatabase { down } => {
                let database = Rc::clone(&self.database);
                let started = self.started;
                self.database_restart = Some(actix_rt::spawn(async move {
                    database.restart(down).await?;
                    Ok(started.elapsed().as_secs_f64())
                }));
                (String::new(), format!("down for {down:?}"))
            }
            Action::Kill { restart_after } => {
                let index = self.pick(event.instance).await?;
                let instance = &mut self.instances[index];
                let uptime = instance.uptime();
                instance.kill(restart_after)?;
                let detail = format!(
                    "after {:.3} s of life; restart in {restart_after:?}",
                    uptime.as_secs_f64()
                );
                (instance.name.clone(), detail)
            }
            Action::Pause { length } => {
                let index = self.pick(event.instance).await?;
                let instance = &mut self.instances[index];
                instance.pause(length)?;
                (instance.name.clone(), format!("for {length:.1?}"))
            }
        };
        let record = EventRecord {
            at_secs: self.secs(),
            kind: event.kind(),
            instance,
            delivered,
            detail,
        };
        eprintln!(
            "[{:7.1} s] event {:2}: {} {} ({}), {} delivered",
            record.at_secs,
            self.events.len() + 1,
            record.kind,
            record.instance,
            record.detail,
            record.delivered
        );
        self.events.push(record);
        Ok(())
    }

    /// The index of `preferred` if it runs, else of the next instance that runs.
    async fn pick(&mut self, preferred: usize) -> Result<usize, String> {
        let count = self.instances.len();
        let running = |run: &Self| {
            (0..count)
                .map(|step| (preferred + step) % count)
                .find(|&i| run.instances[i].is_running())
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        self.wait_until(deadline, |run| running(run).is_some())
            .await?;
        running(self).ok_or_else(|| "no instance running for a minute".to_owned())
    }

    /// Whether the database is down for its restart, or came back less than
    /// [`DATABASE_GRACE`] ago.
    fn database_down(&mut self) -> bool {
        let Some(restart) = &self.database_restart else {
            return false;
        };
        if !restart.is_finished() {
            return true;
        }
        let back = *self.database_back.get_or_insert_with(Instant::now);
        back.elapsed() < DATABASE_GRACE
    }

    /// One line every 5 s on stderr.
    fn report_progress(&mut self) {
        if self.last_report.elapsed() < Duration::from_secs(5) {
            return;
        }
        self.last_report = Instant::now();
        let summary = self.receiver.summary();
        let down: Vec<&str> = self
            .instances
            .iter()
            .filter(|i| !i.is_running())
            .map(|i| i.name.as_str())
            .collect();
        eprintln!(
            "[{:7.1} s] delivered {}/{}, duplicates {}, refused {}, events {}{}",
            self.secs(),
            summary.delivered,
            self.changes,
            summary.duplicates,
            summary.failures,
            self.events.len(),
            if down.is_empty() {
                String::new()
            } else {
                format!(", not running: {}", down.join(" "))
            }
        );
    }

    /// Lets late duplicates land: waits until the receiver has had no request for a second
    /// (at most 15 s).
    pub(super) async fn settle(&mut self) -> Result<(), String> {
        let requests = |run: &Self| {
            let s = run.receiver.summary();
            s.delivered + s.duplicates + s.failures
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut last = (requests(self), Instant::now());
        while Instant::now() < deadline && last.1.elapsed() < Duration::from_secs(1) {
            self.wait(Duration::from_millis(50)).await?;
            let now = requests(self);
            if now != last.0 {
                last = (now, Instant::now());
            }
        }
        Ok(())
    }
}
