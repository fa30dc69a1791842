//! When the torture kills Courier: a seeded plan of SIGKILLs, some a few milliseconds after a
//! start (so they land while the store opens or pending containers are re-dispatched), the
//! others spread over the run by delivery progress, with a time cap so that kills also land
//! while an outage holds progress still.

use std::time::Duration;

/// Share of the kills aimed at the recovery right after a (re)start.
const RECOVERY_SHARE: f64 = 1.0 / 3.0;
/// A recovery kill comes at most this long after the start.
const RECOVERY_WINDOW_MS: u64 = 400;

/// The moment one kill comes.
#[derive(Debug, Clone, PartialEq)]
pub enum Moment {
    /// This long after the process started: during its recovery.
    AfterStart(Duration),
    /// Once the receiver holds `delivered` distinct notifications, but not before `at_least`
    /// nor after `at_most` from the start.
    AtProgress {
        /// The distinct deliveries to wait for.
        delivered: u64,
        /// The shortest life of the process.
        at_least: Duration,
        /// The longest life of the process, whatever the progress.
        at_most: Duration,
    },
}

/// One kill and the pause before the restart that follows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Kill {
    /// When it comes.
    pub moment: Moment,
    /// How long the process stays dead (zero for about a third of the kills).
    pub pause: Duration,
}

impl Kill {
    /// Whether this kill is aimed at a recovery.
    pub fn during_recovery(&self) -> bool {
        matches!(self.moment, Moment::AfterStart(_))
    }
}

/// `kills` kills for a run of `changes` changes; the progress targets rise from 2% to 97% of
/// the changes, so the kills cover the whole run.
pub fn plan(kills: usize, changes: u64, rng: &mut fastrand::Rng) -> Vec<Kill> {
    let recovery: Vec<bool> = (0..kills).map(|_| rng.f64() < RECOVERY_SHARE).collect();
    let flow = recovery.iter().filter(|r| !**r).count();
    let mut targets: Vec<u64> = (0..flow)
        .map(|_| (changes as f64 * (0.02 + 0.95 * rng.f64())) as u64)
        .collect();
    targets.sort_unstable();
    let mut targets = targets.into_iter();
    recovery
        .into_iter()
        .map(|during_recovery| {
            let moment = if during_recovery {
                Moment::AfterStart(Duration::from_millis(rng.u64(0..=RECOVERY_WINDOW_MS)))
            } else {
                Moment::AtProgress {
                    delivered: targets.next().expect("one target per flow kill"),
                    at_least: Duration::from_millis(rng.u64(500..=2_000)),
                    at_most: Duration::from_millis(rng.u64(2_000..=12_000)),
                }
            };
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

    #[test]
    fn a_plan_mixes_recovery_kills_with_rising_progress_targets() {
        let kills = plan(30, 200_000, &mut fastrand::Rng::with_seed(7));
        assert_eq!(kills.len(), 30);
        let recovery = kills.iter().filter(|k| k.during_recovery()).count();
        assert!((3..=20).contains(&recovery), "{recovery} recovery kills");
        let targets: Vec<u64> = kills
            .iter()
            .filter_map(|k| match k.moment {
                Moment::AtProgress { delivered, .. } => Some(delivered),
                Moment::AfterStart(_) => None,
            })
            .collect();
        assert!(targets.windows(2).all(|w| w[0] <= w[1]), "{targets:?}");
        assert!(targets.iter().all(|t| (4_000..=194_000).contains(t)));
        assert!(kills.iter().any(|k| k.pause.is_zero()));
    }

    #[test]
    fn the_same_seed_gives_the_same_plan() {
        let a = plan(10, 1_000, &mut fastrand::Rng::with_seed(3));
        let b = plan(10, 1_000, &mut fastrand::Rng::with_seed(3));
        assert_eq!(a, b);
    }
}
