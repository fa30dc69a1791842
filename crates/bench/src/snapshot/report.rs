//! The snapshot scenario's figures: the rows of the results table and the notes.

use super::{Listing, INTERVAL_SECS, PAGE_SIZE, WINDOW_RECORDS};
use crate::scenarios::{mb, Results, Row};

/// Everything the scenario measured.
pub(super) struct Figures {
    pub(super) baseline: Listing,
    pub(super) steady: Vec<Listing>,
    /// Changes the sim made before each changed listing, and the listing.
    pub(super) changed: Vec<(u64, Listing)>,
    /// Distinct notifications the receiver counted for each changed listing.
    pub(super) delivered: Vec<u64>,
    pub(super) made: u64,
    /// Bytes of the sled directory after the baseline, the steady and the changed listings.
    pub(super) stores: [u64; 3],
    /// Courier's peak RSS (kB) after the baseline and at the end.
    pub(super) peaks: [u64; 2],
    pub(super) duplicates: u64,
    pub(super) wall_secs: f64,
}

impl Figures {
    pub(super) fn report(&self, results: &mut Results, exit: &str) {
        let (b, s) = (&self.baseline, &self.steady);
        let steady_ms: Vec<String> = s.iter().map(|l| format!("{:.2}", l.secs())).collect();
        let steady_cpu: Vec<String> = s.iter().map(|l| format!("{:.2}", l.cpu_secs)).collect();
        let row = |scenario: &str, measured: String| Row {
            scenario: scenario.into(),
            measured,
            target: "none (issue 15: measure)".into(),
            met: None,
        };
        results.rows.push(row(
            "15a. Snapshot listing of 100,000 records, pages of 500: baseline",
            format!("{:.2} s, Courier CPU {:.2} s", b.secs(), b.cpu_secs),
        ));
        let cpu_of = |l: &Listing| {
            format!(
                "listing {:.2} s: Courier {:.2} s, simulated EHR {:.2} s, other processes {:.2} s",
                l.secs(),
                l.cpu_secs,
                l.ehr_cpu_secs,
                l.others_cpu_secs
            )
        };
        let all: Vec<String> = std::iter::once(b)
            .chain(s)
            .chain(self.changed.iter().map(|(_, l)| l))
            .map(cpu_of)
            .collect();
        results.details.push(format!(
            "**15. CPU per listing** (baseline, steady, changed; the machine's 2 cores are \
             shared): {}.",
            all.join("; ")
        ));
        results.rows.push(row(
            "15b. Snapshot listing, nothing changed (steady)",
            format!(
                "{} s per listing, Courier CPU {} s",
                steady_ms.join(" / "),
                steady_cpu.join(" / ")
            ),
        ));
        let per_listing: Vec<String> = self
            .changed
            .iter()
            .zip(&self.delivered)
            .map(|((made, l), got)| {
                format!(
                    "{made} changed, {} detected, {got} delivered in {:.2} s ({:.0}/s), CPU {:.2} s",
                    l.detected(),
                    l.secs(),
                    l.detected() as f64 / l.secs().max(1e-3),
                    l.cpu_secs
                )
            })
            .collect();
        results.rows.push(row(
            "15c. Snapshot listing after 1% of the window changed",
            per_listing.join("; "),
        ));
        let [base, steady, changed] = self.stores.map(|b| b as f64 / 1_048_576.0);
        results.rows.push(row(
            "15d. Snapshot: peak RSS and sled directory",
            format!(
                "peak RSS {:.0} MB ({:.0} MB after the baseline); store {base:.1} MB after the \
                 baseline, {steady:.1} MB after {} steady listings, {changed:.1} MB after {} \
                 changed ones",
                mb(self.peaks[1]),
                mb(self.peaks[0]),
                s.len(),
                self.changed.len()
            ),
        ));
        let detected: u64 = self.changed.iter().map(|(_, l)| l.detected()).sum();
        results.details.push(format!(
            "**15. Snapshot source** (`--only snapshot`): the simulated schedule (its own \
             process) serves {WINDOW_RECORDS} appointments starting over the next 14 days; \
             Courier lists from={{now-7d}}&to={{now+21d}} in pages of {PAGE_SIZE} by link \
             (consistent snapshots, total checked), compare = status, start, end, patientId, \
             initial = baseline, interval_secs {INTERVAL_SECS}, no enrichment. Times are \
             Courier's own (`listing N done`, pages then the sweep of stored records); CPU is \
             Courier's from /proc between the listing's first request and its end line. \
             Changes: {} made by the sim, {detected} detected, {} duplicates at the receiver. \
             The baseline listed {} records and notified none. Wall time {:.0} s.{exit}",
            self.made, self.duplicates, b.listed, self.wall_secs,
        ));
    }
}
