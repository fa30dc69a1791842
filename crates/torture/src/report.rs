//! The torture's figures, and the verdict: which of its guarantees the run broke, if any.

use std::fmt::Write as _;
use std::time::Duration;

use courier_sim::{Audit, Problems, Summary};

/// One SIGKILL as it happened.
#[derive(Debug, Clone)]
pub struct KillRecord {
    /// Seconds since the torture started.
    pub at_secs: f64,
    /// How long the killed process had run.
    pub uptime: Duration,
    /// What it was aimed at: `recovery`, `mid-flow` or `in outage`.
    pub kind: &'static str,
    /// Distinct notifications delivered at the kill.
    pub delivered: usize,
}

/// An outage as it happened, in seconds since the torture started.
#[derive(Debug, Clone)]
pub struct OutageRecord {
    /// What was down.
    pub what: &'static str,
    /// When it began.
    pub from_secs: f64,
    /// When it ended (the planned length after `from_secs`).
    pub to_secs: f64,
    /// What followed it, where the torture measures that (how long healing took).
    pub note: Option<String>,
}

/// Everything the run measured.
#[derive(Debug)]
pub struct Figures {
    /// The configured total of changes.
    pub changes: u64,
    /// What the EHR's log holds at the end (must equal `changes`).
    pub ehr_changes: u64,
    /// Changes waiting when Courier first started.
    pub backlog: u64,
    /// Changes per second for the rest.
    pub rate: f64,
    /// The receiver's share of random failures.
    pub failure_rate: f64,
    /// The receiver's counts.
    pub summary: Summary,
    /// Every request the receiver answered.
    pub requests: usize,
    /// The ledger's audit.
    pub audit: Audit,
    /// Versions (the EHR's change numbers) in 1..=changes that no notification carried.
    pub missing_versions: Problems,
    /// The connection the torture configures.
    pub connection: String,
    /// The kills, in order.
    pub kills: Vec<KillRecord>,
    /// With `--consume-once`: the kills that landed while the EHR held a read's answer
    /// (marked processed, not yet committed), and the changes the feed handed out.
    pub consume_once: Option<(usize, usize)>,
    /// Restarts after a kill or an unexpected exit.
    pub restarts: usize,
    /// Exits nobody asked for, described.
    pub unexpected_exits: Vec<String>,
    /// Duplicates received by each run (run 0 started before any kill).
    pub duplicates_per_run: Vec<usize>,
    /// The outages.
    pub outages: Vec<OutageRecord>,
    /// Periods without progress outside outages, described.
    pub stalls: Vec<String>,
    /// Whether every change arrived before the timeout.
    pub completed: bool,
    /// How the last process ended after SIGTERM.
    pub final_exit: String,
    /// Containers left in the store after the final stop.
    pub pending_after_stop: Option<usize>,
    /// Dead letters in the store after the final stop.
    pub dead_letters: Option<usize>,
    /// Panic lines in the logs.
    pub panics: Vec<String>,
    /// `ERROR` lines in the logs.
    pub errors: Vec<String>,
    /// The whole run.
    pub elapsed: Duration,
    /// Until the last change was delivered.
    pub drained_after: Option<Duration>,
}

impl Figures {
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
            self.ehr_changes != self.changes,
            format!(
                "the EHR logged {} changes, not {}",
                self.ehr_changes, self.changes
            ),
        );
        fail(
            !self.audit.is_clean(),
            "the audit found gaps or inconsistent ids".into(),
        );
        let sequences = self
            .audit
            .connections
            .get(&self.connection)
            .map_or((0, 0), |c| (c.highest_sequence, c.delivered as u64));
        fail(
            sequences != (self.changes, self.changes) || self.audit.connections.len() != 1,
            format!(
                "{}: highest sequence and distinct notifications {sequences:?}, not {} each",
                self.connection, self.changes
            ),
        );
        fail(
            !self.summary.all_verified,
            "a signature did not verify".into(),
        );
        fail(
            self.dead_letters != Some(0),
            format!("dead letters: {:?}", self.dead_letters),
        );
        fail(
            !self.panics.is_empty(),
            format!("{} panics logged", self.panics.len()),
        );
        fail(
            !self.unexpected_exits.is_empty(),
            format!("{} unexpected exits", self.unexpected_exits.len()),
        );
        fail(
            !self.completed,
            "not every change arrived before the timeout".into(),
        );
        fail(
            self.final_exit != "exit status: 0",
            format!("the final SIGTERM ended courier with {}", self.final_exit),
        );
        failures
    }

    /// The report, as printed and as pasted into `bench/TORTURE.md`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) -> std::fmt::Result {
        let secs = self.elapsed.as_secs_f64();
        writeln!(
            out,
            "changes               {} ({} backlog + {} at {}/s); EHR log holds {}",
            self.changes,
            self.backlog,
            self.changes - self.backlog,
            self.rate,
            self.ehr_changes
        )?;
        writeln!(out, "delivered (unique)    {}", self.summary.delivered)?;
        writeln!(out, "lost                  {}", self.lost())?;
        writeln!(
            out,
            "requests              {} ({} refused: {:.1}% random failures asked, plus outage 503s)",
            self.requests,
            self.summary.failures,
            self.failure_rate * 100.0
        )?;
        let kind = |kind: &str| self.kills.iter().filter(|k| k.kind == kind).count();
        writeln!(
            out,
            "kills (SIGKILL)       {} ({} aimed at recovery, <= 400 ms after a start; {} inside an outage; {} mid-flow)",
            self.kills.len(),
            kind("recovery"),
            kind("in outage"),
            kind("mid-flow")
        )?;
        if let Some((held, processed)) = self.consume_once {
            writeln!(
                out,
                "consume-once          {held} kills between a GET and its commit (the EHR held the answer); {processed} changes handed out"
            )?;
        }
        let shortest = self
            .kills
            .iter()
            .map(|k| k.uptime)
            .min()
            .unwrap_or_default();
        writeln!(out, "shortest life killed  {shortest:.0?}")?;
        writeln!(
            out,
            "restarts              {} (unexpected exits: {})",
            self.restarts,
            self.unexpected_exits.len()
        )?;
        let after_kills = &self.duplicates_per_run[1.min(self.duplicates_per_run.len())..];
        let max = after_kills.iter().max().copied().unwrap_or(0);
        let mean = if after_kills.is_empty() {
            0.0
        } else {
            after_kills.iter().sum::<usize>() as f64 / after_kills.len() as f64
        };
        writeln!(out, "duplicates            {} total; {} before the first kill; per kill: max {max}, mean {mean:.1}",
            self.summary.duplicates, self.duplicates_per_run.first().copied().unwrap_or(0))?;
        writeln!(out, "duplicates per run    {:?}", self.duplicates_per_run)?;
        write_audit(out, &self.audit)?;
        writeln!(
            out,
            "every EHR change      {} (versions 1..={} all delivered; missing {})",
            yes(self.missing_versions.is_empty()),
            self.changes,
            self.missing_versions.count
        )?;
        writeln!(
            out,
            "signatures verified   {}",
            yes(self.summary.all_verified)
        )?;
        for outage in &self.outages {
            writeln!(
                out,
                "outage                {} from {:.1} s to {:.1} s ({:.0} s){}",
                outage.what,
                outage.from_secs,
                outage.to_secs,
                outage.to_secs - outage.from_secs,
                outage
                    .note
                    .as_ref()
                    .map_or(String::new(), |note| format!("; {note}"))
            )?;
        }
        writeln!(out, "stalls                {}", self.stalls.len())?;
        writeln!(
            out,
            "store after stop      pending {}, dead letters {}",
            option(self.pending_after_stop),
            option(self.dead_letters)
        )?;
        writeln!(out, "final SIGTERM         {}", self.final_exit)?;
        writeln!(
            out,
            "logs                  {} panics, {} ERROR lines",
            self.panics.len(),
            self.errors.len()
        )?;
        if let Some(drained) = self.drained_after {
            writeln!(
                out,
                "last change arrived   {:.1} s ({:.0} unique/s overall)",
                drained.as_secs_f64(),
                self.summary.delivered as f64 / drained.as_secs_f64()
            )?;
        }
        writeln!(out, "elapsed               {secs:.1} s")?;
        self.write_problems(out)
    }

    fn write_problems(&self, out: &mut String) -> std::fmt::Result {
        let mut lists = audit_problems(&self.audit);
        lists.extend([
            ("missing version", &self.missing_versions.examples[..]),
            ("unexpected exit", &self.unexpected_exits),
            ("stall", &self.stalls),
            ("panic", &self.panics),
            ("error line", &self.errors[..self.errors.len().min(10)]),
        ]);
        write_problems(out, &lists)
    }
}

/// The ledger audit's lines: ids consistent, and per connection whether its sequences are
/// gap-free with one id per change (shared by the single-instance and the cluster report).
pub fn write_audit(out: &mut String, audit: &Audit) -> std::fmt::Result {
    writeln!(out, "ids consistent        {} (same id <-> same connection, sequence, key, version; mismatches {}, unidentified {})",
        yes(audit.mismatches.is_empty() && audit.unidentified.is_empty()),
        audit.mismatches.count, audit.unidentified.count)?;
    for (connection, audit) in &audit.connections {
        writeln!(out, "sequences {connection:<11} 1..={} gap-free: {} (missing {}, shared by two ids {}); one id per change: {}; ids are hash(connection, key, version): {}",
            audit.highest_sequence, yes(audit.missing_sequences.is_empty() && audit.shared_sequences.is_empty()),
            audit.missing_sequences.count, audit.shared_sequences.count,
            yes(audit.shared_changes.is_empty()), yes(audit.wrong_ids.is_empty()))?;
    }
    Ok(())
}

/// The examples of every problem the ledger audit found, labelled.
pub fn audit_problems(audit: &Audit) -> Vec<(&'static str, &[String])> {
    let mut lists: Vec<(&str, &[String])> = vec![
        ("mismatch", &audit.mismatches.examples),
        ("unidentified", &audit.unidentified.examples),
    ];
    for audit in audit.connections.values() {
        lists.push(("missing", &audit.missing_sequences.examples));
        lists.push(("shared sequence", &audit.shared_sequences.examples));
        lists.push(("shared change", &audit.shared_changes.examples));
        lists.push(("wrong id", &audit.wrong_ids.examples));
    }
    lists
}

/// One indented line per example, after its label.
pub fn write_problems(out: &mut String, lists: &[(&str, &[String])]) -> std::fmt::Result {
    for (label, examples) in lists {
        for example in *examples {
            writeln!(out, "  {label}: {example}")?;
        }
    }
    Ok(())
}

/// "yes", or a "NO" that stands out.
pub fn yes(ok: bool) -> &'static str {
    if ok {
        "yes"
    } else {
        "NO"
    }
}

/// A count, or "unknown" when it could not be read.
pub fn option(value: Option<usize>) -> String {
    value.map_or_else(|| "unknown".to_owned(), |v| v.to_string())
}
