//! When the torture kills Courier: a seeded plan of SIGKILLs. A third land a few milliseconds
//! after a start (while the store opens or pending containers are re-dispatched), two land
//! inside each outage, and the rest are spread over the run by delivery progress, so kills
//! cover the whole run rather than bunching where progress stands still.

use std::time::Duration;

/// Share of the kills aimed at the recovery right after a (re)start.
const RECOVERY_SHARE: f64 = 1.0 / 3.0;
/// A recovery kill comes at most this long after the start.
const RECOVERY_WINDOW_MS: u64 = 400;
/// Kills planned inside each outage.
const KILLS_PER_OUTAGE: usize = 2;

/// The moment one kill comes.
#[derive(Debug, Clone, PartialEq)]
pub enum Moment {
    /// This long after the process started: during its recovery.
    AfterStart(Duration),
    /// Once the receiver holds `delivered` distinct notifications, and the process has lived
    /// at least `at_least`.
    AtProgress {
        /// The distinct deliveries to wait for.
        delivered: u64,
        /// The shortest life of the process.
        at_least: Duration,
    },
    /// `after` the start of outage number `outage` (at once if that moment has passed).
    InOutage {
        /// The outage's index in the list given to [`plan`].
        outage: usize,
        /// How long after its start.
        after: Duration,
    },
}

/// One kill and the pause before the restart that follows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Kill {
    /// When it comes.
    pub moment: Moment,
    /// How long the process stays dead (zero for about a quarter of the kills).
    pub pause: Duration,
}

impl Kill {
    /// A short label for the log and the report.
    pub fn kind(&self) -> &'static str {
        match self.moment {
            Moment::AfterStart(_) => "recovery",
            Moment::AtProgress { .. } => "mid-flow",
            Moment::InOutage { .. } => "in outage",
        }
    }
}

/// An outage the plan aims kills at: it starts once `share` of the changes were delivered and
/// lasts `length`.
#[derive(Debug, Clone, Copy)]
pub struct PlannedOutage {
    /// Share of the changes delivered when it starts.
    pub share: f64,
    /// How long it lasts.
    pub length: Duration,
}

/// `kills` kills for a run of `changes` changes with `outages` (those of zero length get no
/// kill). Progress targets rise from 2% to 97% of the changes.
pub fn plan(
    kills: usize,
    changes: u64,
    outages: &[PlannedOutage],
    rng: &mut fastrand::Rng,
) -> Vec<Kill> {
    let recovery = (0..kills).filter(|_| rng.f64() < RECOVERY_SHARE).count();
    // (position as a share of the changes, moment), sorted by position.
    let mut placed: Vec<(f64, Moment)> = Vec::new();
    for (index, outage) in outages.iter().enumerate() {
        if outage.length.is_zero() {
            continue;
        }
        let mut afters: Vec<Duration> = (0..KILLS_PER_OUTAGE)
            .map(|_| outage.length.mul_f64(0.1 + 0.8 * rng.f64()))
            .collect();
        afters.sort_unstable();
        for after in afters {
            if placed.len() + recovery < kills {
                let moment = Moment::InOutage {
                    outage: index,
                    after,
                };
                placed.push((outage.share, moment));
            }
        }
    }
    while placed.len() + recovery < kills {
        let share = 0.02 + 0.95 * rng.f64();
        let moment = Moment::AtProgress {
            delivered: (changes as f64 * share) as u64,
            at_least: Duration::from_millis(rng.u64(200..=1_500)),
        };
        placed.push((share, moment));
    }
    // Stable: the kills of one outage keep their order.
    placed.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut moments: Vec<Moment> = placed.into_iter().map(|(_, moment)| moment).collect();
    for _ in 0..recovery {
        let after = Duration::from_millis(rng.u64(0..=RECOVERY_WINDOW_MS));
        let at = rng.usize(0..=moments.len());
        moments.insert(at, Moment::AfterStart(after));
    }
    moments
        .into_iter()
        .map(|moment| {
            let pause = if rng.bool() && rng.bool() {
                Duration::ZERO
            } else {
                Duration::from_millis(rng.u64(1..=500))
            };
            Kill { moment, pause }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTAGES: [PlannedOutage; 2] = [
        PlannedOutage {
            share: 0.3,
            length: Duration::from_secs(60),
        },
        PlannedOutage {
            share: 0.6,
            length: Duration::ZERO,
        },
    ];

    #[test]
    fn a_plan_mixes_recovery_outage_and_rising_progress_kills() {
        let kills = plan(30, 200_000, &OUTAGES, &mut fastrand::Rng::with_seed(7));
        assert_eq!(kills.len(), 30);
        let count = |kind| kills.iter().filter(|k| k.kind() == kind).count();
        assert!((3..=20).contains(&count("recovery")));
        assert_eq!(count("in outage"), 2, "none for the zero-length outage");
        let targets: Vec<u64> = kills
            .iter()
            .filter_map(|k| match k.moment {
                Moment::AtProgress { delivered, .. } => Some(delivered),
                Moment::InOutage { .. } => Some(60_000),
                Moment::AfterStart(_) => None,
            })
            .collect();
        assert!(targets.windows(2).all(|w| w[0] <= w[1]), "{targets:?}");
        assert!(targets.iter().all(|t| (4_000..=194_000).contains(t)));
        assert!(kills.iter().any(|k| k.pause.is_zero()));
    }

    #[test]
    fn the_same_seed_gives_the_same_plan() {
        let a = plan(10, 1_000, &OUTAGES, &mut fastrand::Rng::with_seed(3));
        let b = plan(10, 1_000, &OUTAGES, &mut fastrand::Rng::with_seed(3));
        assert_eq!(a, b);
    }
}
