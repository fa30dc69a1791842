//! The figures: one TSV line per run as it ends, and a Markdown summary per configuration
//! (median rows/s over the repetitions, mean CPU per 10,000 rows).

use std::collections::BTreeMap;

use crate::run::{Outcome, Plan};

/// The header of the per-run lines.
pub const HEADER: &str = "driver\twork\ttasks\trep\tsecs\trows\trows_per_s\tclient_ms_per_10k\t\
backend_ms_per_10k\tpostgres_all_ms_per_10k\tpostgres_share\tmachine_busy\tload1\texhausted";

/// One run as a TSV line.
pub fn line(plan: &Plan, rep: usize, outcome: &Outcome) -> String {
    format!(
        "{}\t{}\t{}\t{}\t{:.2}\t{}\t{:.0}\t{:.1}\t{:.1}\t{:.1}\t{:.2}\t{:.2}\t{:.2}\t{}",
        plan.driver,
        plan.work,
        plan.tasks,
        rep,
        outcome.wall.as_secs_f64(),
        outcome.rows,
        outcome.rate(),
        outcome.per_10k(outcome.cpu.client),
        outcome.per_10k(outcome.cpu.backends),
        outcome.per_10k(outcome.cpu.postgres),
        outcome.share(outcome.cpu.postgres),
        outcome.share(outcome.cpu.machine_busy),
        outcome.load,
        outcome.exhausted,
    )
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

/// A Markdown table, one row per (work, tasks, driver): rows/s (median and range) and CPU.
pub fn summary(results: &[(Plan, Outcome)]) -> String {
    let mut groups: BTreeMap<(String, usize, String), Vec<&Outcome>> = BTreeMap::new();
    for (plan, outcome) in results {
        groups
            .entry((plan.work.to_string(), plan.tasks, plan.driver.to_string()))
            .or_default()
            .push(outcome);
    }
    let mut out = String::from(
        "| work | tasks | driver | rows/s median (min–max) | client CPU ms/10k rows | \
         its backends' CPU ms/10k | all postgres CPU share | machine busy | load1 |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    for ((work, tasks, driver), runs) in groups {
        let rates: Vec<f64> = runs.iter().map(|o| o.rate()).collect();
        let lo = rates.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = rates.iter().copied().fold(0.0, f64::max);
        let client: Vec<f64> = runs.iter().map(|o| o.per_10k(o.cpu.client)).collect();
        let backend: Vec<f64> = runs.iter().map(|o| o.per_10k(o.cpu.backends)).collect();
        let share: Vec<f64> = runs.iter().map(|o| o.share(o.cpu.postgres)).collect();
        let busy: Vec<f64> = runs.iter().map(|o| o.share(o.cpu.machine_busy)).collect();
        let load: Vec<f64> = runs.iter().map(|o| o.load).collect();
        let flag = if runs.iter().any(|o| o.exhausted) {
            " (ran out)"
        } else {
            ""
        };
        out.push_str(&format!(
            "| {work} | {tasks} | {driver} | {:.0} ({lo:.0}–{hi:.0}){flag} | {:.0} | {:.0} | \
             {:.0}% | {:.0}% | {:.1} |\n",
            median(rates),
            mean(&client),
            mean(&backend),
            100.0 * mean(&share),
            100.0 * mean(&busy),
            mean(&load),
        ));
    }
    out
}
