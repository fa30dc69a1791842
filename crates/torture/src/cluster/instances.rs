//! The cluster's `courier run` instances as the torture drives them: each running, paused
//! (SIGSTOP) until a moment, or dead until its restart; continued and restarted when due, and
//! restarted at once after an exit nobody asked for.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::child::{Courier, Launcher};

/// Exits on their own, in all, after which the run fails instead of restarting again.
const MAX_UNEXPECTED_EXITS: usize = 20;
/// How long an instance that exited because the database was down waits before it is
/// started again, as a supervisor (systemd's `RestartSec`) would.
const RESTART_BACKOFF: Duration = Duration::from_secs(1);

/// Where an instance is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Running,
    /// Stopped with SIGSTOP at `since`; continued at `until`.
    Paused {
        since: Instant,
        until: Instant,
    },
    /// Killed; started again at `restart_at`.
    Dead {
        restart_at: Instant,
    },
}

/// A continued instance's log from the moment it woke up, where it must say it lost its
/// leases (and must not write for them).
#[derive(Debug, Clone)]
pub struct Resume {
    /// The instance.
    pub instance: String,
    /// Seconds since the torture started.
    pub at_secs: f64,
    /// How long it had stood still.
    pub paused: Duration,
    /// The run's log file.
    pub log: PathBuf,
    /// The log's length at the SIGCONT: what follows was logged after it.
    pub offset: u64,
}

/// Exits nobody asked for, described.
#[derive(Debug, Default)]
pub struct Exits {
    /// At start, while the database was down (or had just come back): an instance that
    /// cannot reach its store exits, and its supervisor starts it again.
    pub database_down: Vec<String>,
    /// At start, while the killed run's name was still registered as live (its heartbeat
    /// younger than the lease): Courier refuses a second live instance of one name, and the
    /// supervisor starts it again until the old heartbeat has aged.
    pub name_still_live: Vec<String>,
    /// At any other moment: a broken guarantee.
    pub unexpected: Vec<String>,
}

/// What Courier logs when it refuses to start under a name a live member holds.
const NAME_STILL_LIVE: &str = "another live instance is registered as";

/// One instance of the cluster.
pub struct Instance {
    /// Its `--instance` name.
    pub name: String,
    /// Starts its runs; holds every run's log.
    pub launcher: Launcher,
    courier: Option<Courier>,
    state: State,
    /// How long it was paused, once continued, with where its log stood.
    pub resumes: Vec<Resume>,
    /// Starts after a kill or an unexpected exit.
    pub restarts: usize,
}

impl Instance {
    /// Starts the instance's first run.
    pub fn start(name: String, mut launcher: Launcher) -> Result<Self, String> {
        let courier = launcher
            .start()
            .map_err(|e| format!("starting {name}: {e}"))?;
        Ok(Self {
            name,
            launcher,
            courier: Some(courier),
            state: State::Running,
            resumes: Vec::new(),
            restarts: 0,
        })
    }

    /// Whether it runs now (neither paused nor dead).
    pub fn is_running(&self) -> bool {
        self.state == State::Running
    }

    /// How long the current run has lived.
    pub fn uptime(&self) -> Duration {
        self.courier
            .as_ref()
            .map_or(Duration::ZERO, Courier::uptime)
    }

    /// SIGKILL; the restart comes `restart_after` later, at a [`Instance::tick`].
    pub fn kill(&mut self, restart_after: Duration) -> Result<(), String> {
        let courier = self.courier.take().ok_or("no process to kill")?;
        courier
            .kill()
            .map_err(|e| format!("SIGKILL {}: {e}", self.name))?;
        self.state = State::Dead {
            restart_at: Instant::now() + restart_after,
        };
        Ok(())
    }

    /// SIGSTOP; the SIGCONT comes `length` later, at a [`Instance::tick`].
    pub fn pause(&mut self, length: Duration) -> Result<(), String> {
        let courier = self.courier.as_ref().ok_or("no process to pause")?;
        courier
            .pause()
            .map_err(|e| format!("SIGSTOP {}: {e}", self.name))?;
        let since = Instant::now();
        self.state = State::Paused {
            since,
            until: since + length,
        };
        Ok(())
    }

    /// Carries out what is due (a SIGCONT, a restart) and restarts a run that exited on its
    /// own: after a backoff when the exit was a refusal to start that a supervisor retries
    /// (`database_down`, or the name still registered as live), at once otherwise, described
    /// in `exits`.
    pub fn tick(
        &mut self,
        started: Instant,
        exits: &mut Exits,
        database_down: bool,
    ) -> Result<(), String> {
        match self.state {
            State::Paused { since, until } if Instant::now() >= until => {
                self.resume(started, since)?
            }
            State::Dead { restart_at } if Instant::now() >= restart_at => self.restart()?,
            _ => {}
        }
        let Some(courier) = self.courier.as_mut() else {
            return Ok(());
        };
        if let Some(status) = courier.exited().map_err(|e| e.to_string())? {
            let exit = format!(
                "{} run {} exited on its own with {status} after {:?}, at {:.1} s",
                self.name,
                self.launcher.logs.len() - 1,
                courier.uptime(),
                started.elapsed().as_secs_f64()
            );
            self.courier = None;
            let expected = if database_down {
                Some(&mut exits.database_down)
            } else if self.last_log_says(NAME_STILL_LIVE) {
                Some(&mut exits.name_still_live)
            } else {
                None
            };
            if let Some(expected) = expected {
                expected.push(exit);
                self.state = State::Dead {
                    restart_at: Instant::now() + RESTART_BACKOFF,
                };
                return Ok(());
            }
            exits.unexpected.push(exit);
            if exits.unexpected.len() >= MAX_UNEXPECTED_EXITS {
                return Err(format!(
                    "instances exited on their own {MAX_UNEXPECTED_EXITS} times; the last is {}",
                    exits.unexpected.last().map_or("", String::as_str)
                ));
            }
            self.restart()?;
        }
        Ok(())
    }

    /// Whether the current run's log holds `words`.
    fn last_log_says(&self, words: &str) -> bool {
        self.launcher
            .logs
            .last()
            .and_then(|log| std::fs::read_to_string(log).ok())
            .is_some_and(|text| text.contains(words))
    }

    fn resume(&mut self, started: Instant, since: Instant) -> Result<(), String> {
        let courier = self.courier.as_ref().ok_or("no process to continue")?;
        let log = self.launcher.logs.last().cloned().unwrap_or_default();
        let offset = std::fs::metadata(&log).map_or(0, |m| m.len());
        courier
            .resume()
            .map_err(|e| format!("SIGCONT {}: {e}", self.name))?;
        self.resumes.push(Resume {
            instance: self.name.clone(),
            at_secs: started.elapsed().as_secs_f64(),
            paused: since.elapsed(),
            log,
            offset,
        });
        self.state = State::Running;
        Ok(())
    }

    fn restart(&mut self) -> Result<(), String> {
        self.courier = Some(
            self.launcher
                .start()
                .map_err(|e| format!("restarting {}: {e}", self.name))?,
        );
        self.restarts += 1;
        self.state = State::Running;
        Ok(())
    }

    /// Continues it if paused, then SIGTERM; how the run ended.
    pub async fn terminate(&mut self, within: Duration) -> String {
        let Some(courier) = self.courier.take() else {
            return "not running".to_owned();
        };
        if matches!(self.state, State::Paused { .. }) {
            let _ = courier.resume();
        }
        match courier.terminate(within).await {
            Ok(Some(status)) => status.to_string(),
            Ok(None) => format!("no exit within {within:?}"),
            Err(e) => format!("error: {e}"),
        }
    }
}
