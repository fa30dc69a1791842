//! The cluster torture's figures, and the verdict: which of its guarantees the run broke.

use std::fmt::Write as _;
use std::time::Duration;

use courier_sim::{Audit, Problems, Summary};

use super::database::StoreAudit;
use crate::report::{audit_problems, write_audit, write_problems, yes};

/// One event as it happened.
#[derive(Debug, Clone)]
pub struct EventRecord {
    /// Seconds since the torture started.
    pub at_secs: f64,
    /// What it did: `kill -9`, `SIGSTOP`, `database restart`.
    pub kind: &'static str,
    /// The instance it hit (empty for the database).
    pub instance: String,
    /// Distinct notifications delivered at the event.
    pub delivered: usize,
    /// What it was, for the event log: the restart delay, the pause, the outage.
    pub detail: String,
}

/// What a continued instance logged after it woke up.
#[derive(Debug, Clone)]
pub struct ResumeRecord {
    /// The instance.
    pub instance: String,
    /// When it was continued, seconds since the torture started.
    pub at_secs: f64,
    /// How long it stood still.
    pub paused: Duration,
    /// Lines of its log after the SIGCONT that say a lease was lost or a write fenced.
    pub lease_lines: usize,
}

/// Everything the run measured.
#[derive(Debug)]
pub struct ClusterFigures {
    /// Changes made in all (every EHR's log, summed), and what the run was to make.
    pub changes: u64,
    pub planned_changes: u64,
    /// Changes waiting when the instances first started.
    pub backlog: u64,
    /// Changes per second for the rest, over every EHR.
    pub rate: f64,
    /// The receiver's share of random failures.
    pub failure_rate: f64,
    /// Instances, connections and the lease.
    pub instances: usize,
    pub connections: usize,
    pub lease_secs: u64,
    /// The receiver's counts.
    pub summary: Summary,
    /// The ledger's audit.
    pub audit: Audit,
    /// Each connection with its change count, as its EHR logged it.
    pub per_connection: Vec<(String, u64)>,
    /// Change numbers of a feed that no notification of its connection carried.
    pub missing_versions: Problems,
    /// What the store holds after the final stop; `Err` when it could not be read.
    pub store: Result<StoreAudit, String>,
    /// The events, in order.
    pub events: Vec<EventRecord>,
    /// What each continued instance logged about its leases.
    pub resumes: Vec<ResumeRecord>,
    /// Starts after a kill or an unexpected exit.
    pub restarts: usize,
    /// Exits nobody asked for, described.
    pub unexpected_exits: Vec<String>,
    /// Instances that exited at start because the database was down, described.
    pub database_down_exits: Vec<String>,
    /// Instances that exited at start because the killed run's name was still live.
    pub name_still_live_exits: Vec<String>,
    /// When the restarted database accepted connections again (seconds since the start), or
    /// why it did not; `None` without a restart.
    pub database_back: Option<Result<f64, String>>,
    /// Whether every change arrived before the timeout.
    pub completed: bool,
    /// How each instance ended after the final SIGTERM.
    pub final_exits: Vec<(String, String)>,
    /// Panic lines in the logs.
    pub panics: Vec<String>,
    /// `ERROR` lines the faults explain (the database down), and the others.
    pub expected_errors: Vec<String>,
    pub errors: Vec<String>,
    /// The whole run, and until the last change arrived.
    pub elapsed: Duration,
    pub drained_after: Option<Duration>,
}

impl ClusterFigures {
    /// Distinct changes that never arrived.
    pub fn lost(&self) -> u64 {
        self.changes
            .saturating_sub(self.summary.delivered as u64)
            .max(self.missing_versions.count as u64)
    }

    /// Every broken guarantee; empty for a passing run.
    pub fn failures(&self) -> Vec<String> {
        let mut failures = Vec::new();
        let mut fail = |broken: bool, what: String| {
            if broken {
                failures.push(what);
            }
        };
        fail(self.lost() > 0, format!("{} changes lost", self.lost()));
        fail(
            self.changes != self.planned_changes,
            format!(
                "the EHRs logged {} changes, not {}",
                self.changes, self.planned_changes
            ),
        );
        fail(
            !self.audit.is_clean(),
            "the audit found gaps or inconsistent ids".into(),
        );
        for (connection, changes) in &self.per_connection {
            let seen = self
                .audit
                .connections
                .get(connection)
                .map_or((0, 0), |c| (c.highest_sequence, c.delivered as u64));
            fail(
                seen != (*changes, *changes),
                format!(
                    "{connection}: highest sequence and distinct notifications {seen:?}, not \
                     {changes} each"
                ),
            );
        }
        fail(
            self.audit.connections.len() != self.per_connection.len(),
            format!(
                "notifications of {} connections, not {}",
                self.audit.connections.len(),
                self.per_connection.len()
            ),
        );
        fail(
            !self.summary.all_verified,
            "a signature did not verify".into(),
        );
        if let Some(Err(e)) = &self.database_back {
            fail(true, format!("the database restart failed: {e}"));
        }
        match &self.store {
            Ok(store) => fail(
                !store.is_clean(),
                format!("the store after the stop: {store:?}"),
            ),
            Err(e) => fail(true, format!("the store could not be audited: {e}")),
        }
        fail(
            !self.panics.is_empty(),
            format!("{} panics logged", self.panics.len()),
        );
        fail(
            !self.errors.is_empty(),
            format!("{} unexpected ERROR lines", self.errors.len()),
        );
        fail(
            !self.unexpected_exits.is_empty(),
            format!("{} unexpected exits", self.unexpected_exits.len()),
        );
        fail(
            !self.completed,
            "not every change arrived before the timeout".into(),
        );
        for (instance, exit) in &self.final_exits {
            fail(
                exit != "exit status: 0",
                format!("the final SIGTERM ended {instance} with {exit}"),
            );
        }
        failures
    }

    /// The report, as printed and as pasted into `bench/CLUSTER-TORTURE.md`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) -> std::fmt::Result {
        writeln!(
            out,
            "cluster               {} instances, {} connections (one simulated EHR each), lease_secs {}",
            self.instances, self.connections, self.lease_secs
        )?;
        writeln!(
            out,
            "changes               {} ({} backlog + {} at {}/s over all EHRs); EHR logs hold {}",
            self.planned_changes,
            self.backlog,
            self.planned_changes - self.backlog,
            self.rate,
            self.changes
        )?;
        writeln!(out, "delivered (unique)    {}", self.summary.delivered)?;
        writeln!(out, "lost                  {}", self.lost())?;
        let requests = self.summary.delivered + self.summary.duplicates + self.summary.failures;
        writeln!(
            out,
            "requests              {requests} ({} refused: {:.1}% random failures asked)",
            self.summary.failures,
            self.failure_rate * 100.0
        )?;
        self.write_events(out)?;
        writeln!(
            out,
            "duplicates            {} (same id, same change: the audit below)",
            self.summary.duplicates
        )?;
        write_audit(out, &self.audit)?;
        writeln!(
            out,
            "every EHR change      {} (each feed's versions 1..=its changes delivered; missing {})",
            yes(self.missing_versions.is_empty()),
            self.missing_versions.count
        )?;
        writeln!(
            out,
            "signatures verified   {}",
            yes(self.summary.all_verified)
        )?;
        if let Some(back) = &self.database_back {
            let restart = self.events.iter().find(|e| e.kind == "database restart");
            let from = restart.map_or(f64::NAN, |e| e.at_secs);
            match back {
                Ok(at) => writeln!(
                    out,
                    "database restart      stopped at {from:.1} s, accepting connections again at {at:.1} s"
                )?,
                Err(e) => writeln!(out, "database restart      FAILED: {e}")?,
            }
        }
        self.write_store(out)?;
        for (instance, exit) in &self.final_exits {
            writeln!(out, "final SIGTERM {instance:<7} {exit}")?;
        }
        writeln!(
            out,
            "logs                  {} panics, {} unexpected ERROR lines, {} ERROR lines while the database was down or about it",
            self.panics.len(),
            self.errors.len(),
            self.expected_errors.len()
        )?;
        if let Some(drained) = self.drained_after {
            writeln!(
                out,
                "last change arrived   {:.1} s ({:.0} unique/s overall)",
                drained.as_secs_f64(),
                self.summary.delivered as f64 / drained.as_secs_f64()
            )?;
        }
        writeln!(
            out,
            "elapsed               {:.1} s",
            self.elapsed.as_secs_f64()
        )?;
        let mut lists = audit_problems(&self.audit);
        lists.extend([
            ("missing version", &self.missing_versions.examples[..]),
            ("unexpected exit", &self.unexpected_exits),
            ("panic", &self.panics),
            ("error line", &self.errors[..self.errors.len().min(10)]),
        ]);
        if let Ok(store) = &self.store {
            lists.push(("store sequences", &store.wrong_sequences.examples));
        }
        write_problems(out, &lists)
    }

    fn write_events(&self, out: &mut String) -> std::fmt::Result {
        let kind = |kind: &str| self.events.iter().filter(|e| e.kind == kind).count();
        writeln!(
            out,
            "events                {} kill -9, {} SIGSTOP past the lease, {} database restart",
            kind("kill -9"),
            kind("SIGSTOP"),
            kind("database restart")
        )?;
        writeln!(
            out,
            "restarts              {} (refused starts, retried after 1 s as a supervisor would: {} with the database down, {} with the killed run's name still live; unexpected exits: {})",
            self.restarts,
            self.database_down_exits.len(),
            self.name_still_live_exits.len(),
            self.unexpected_exits.len()
        )?;
        let told = self.resumes.iter().filter(|r| r.lease_lines > 0).count();
        writeln!(
            out,
            "fenced on waking      {told} of {} continued instances logged losing their leases ({} such lines)",
            self.resumes.len(),
            self.resumes.iter().map(|r| r.lease_lines).sum::<usize>()
        )
    }

    fn write_store(&self, out: &mut String) -> std::fmt::Result {
        match &self.store {
            Ok(store) => writeln!(
                out,
                "store after stop      pending {}, dead letters {}, retained {} rows; \
                 (connection, sequence) under two ids {}; next_sequence = changes + 1 and one \
                 retained sequence per change on every connection: {}; leases taken {} times",
                store.pending,
                store.dead_letters,
                store.retained,
                store.retained_shared,
                yes(store.wrong_sequences.is_empty()),
                store.lease_changes
            ),
            Err(e) => writeln!(out, "store after stop      unreadable: {e}"),
        }
    }

    /// The event log, one line per event and per continued instance, in time order.
    pub fn render_log(&self) -> String {
        let mut lines: Vec<(f64, String)> = self
            .events
            .iter()
            .map(|e| {
                let who = if e.instance.is_empty() {
                    String::new()
                } else {
                    format!(" {}", e.instance)
                };
                (
                    e.at_secs,
                    format!(
                        "[{:7.1} s] {}{who} ({}), {} delivered",
                        e.at_secs, e.kind, e.detail, e.delivered
                    ),
                )
            })
            .collect();
        lines.extend(self.resumes.iter().map(|r| {
            (
                r.at_secs,
                format!(
                    "[{:7.1} s] SIGCONT {} after {:.1} s; {} lease-loss lines logged after",
                    r.at_secs,
                    r.instance,
                    r.paused.as_secs_f64(),
                    r.lease_lines
                ),
            )
        }));
        lines.sort_by(|a, b| a.0.total_cmp(&b.0));
        lines.into_iter().map(|(_, line)| line + "\n").collect()
    }
}
