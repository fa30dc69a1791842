//! What the cluster torture does to the cluster, and when: a seeded plan of events a few
//! seconds apart, each on one instance drawn at random, mixing SIGKILLs (the instance comes
//! back after 0–500 ms) and SIGSTOP pauses longer than a lease (then SIGCONT), with one
//! PostgreSQL restart in the middle.

use std::time::Duration;

/// The longest wait between a SIGKILL and the restart.
const RESTART_WITHIN_MS: u64 = 500;
/// A pause lasts this many leases at least...
const PAUSE_LEASES_MIN: f64 = 1.2;
/// ...and at most.
const PAUSE_LEASES_MAX: f64 = 2.0;

/// What one event does.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// SIGKILL the instance; start it again (same name) after `restart_after`.
    Kill {
        /// How long it stays dead (zero for about a quarter of the kills).
        restart_after: Duration,
    },
    /// SIGSTOP the instance for `length`, longer than a lease, then SIGCONT: it wakes up
    /// having lost its leases, and must not write for them again.
    Pause {
        /// How long it stands still.
        length: Duration,
    },
    /// Stop PostgreSQL (fast shutdown), keep it down for `down`, start it again.
    RestartDatabase {
        /// How long the database is down.
        down: Duration,
    },
}

/// One event of the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// How long after the previous event (or the start) it comes.
    pub after: Duration,
    /// The instance it hits (an index; unused by a database restart). Taken as a preference:
    /// the run moves on to the next instance that is running when this one is not.
    pub instance: usize,
    /// What it does.
    pub action: Action,
}

impl Event {
    /// A short label for the log and the report.
    pub fn kind(&self) -> &'static str {
        match self.action {
            Action::Kill { .. } => "kill -9",
            Action::Pause { .. } => "SIGSTOP",
            Action::RestartDatabase { .. } => "database restart",
        }
    }
}

/// The plan's shape.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Kills and pauses in all (the database restart comes on top).
    pub events: usize,
    /// Instances to draw from.
    pub instances: usize,
    /// The cluster's lease: every pause outlasts it.
    pub lease: Duration,
    /// The mean time between two events; each gap is 0.5 to 1.5 of it.
    pub mean_gap: Duration,
    /// How long the database stays down at its restart.
    pub database_down: Duration,
}

/// `shape.events` kills and pauses (about half each), and the database restart after the
/// first half of them.
pub fn plan(shape: Shape, rng: &mut fastrand::Rng) -> Vec<Event> {
    let mut events: Vec<Event> = (0..shape.events)
        .map(|_| {
            let action = if rng.bool() {
                let restart_after = if rng.bool() && rng.bool() {
                    Duration::ZERO
                } else {
                    Duration::from_millis(rng.u64(1..=RESTART_WITHIN_MS))
                };
                Action::Kill { restart_after }
            } else {
                let leases = PAUSE_LEASES_MIN + (PAUSE_LEASES_MAX - PAUSE_LEASES_MIN) * rng.f64();
                Action::Pause {
                    length: shape.lease.mul_f64(leases),
                }
            };
            Event {
                after: gap(shape.mean_gap, rng),
                instance: rng.usize(..shape.instances.max(1)),
                action,
            }
        })
        .collect();
    events.insert(
        shape.events / 2,
        Event {
            after: gap(shape.mean_gap, rng),
            instance: 0,
            action: Action::RestartDatabase {
                down: shape.database_down,
            },
        },
    );
    events
}

fn gap(mean: Duration, rng: &mut fastrand::Rng) -> Duration {
    mean.mul_f64(0.5 + rng.f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHAPE: Shape = Shape {
        events: 30,
        instances: 3,
        lease: Duration::from_secs(5),
        mean_gap: Duration::from_secs(4),
        database_down: Duration::from_secs(3),
    };

    #[test]
    fn a_plan_mixes_kills_and_pauses_past_the_lease_with_one_database_restart_midway() {
        let events = plan(SHAPE, &mut fastrand::Rng::with_seed(42));
        assert_eq!(events.len(), 31);
        let count = |kind| events.iter().filter(|e| e.kind() == kind).count();
        assert!((8..=22).contains(&count("kill -9")), "{events:?}");
        assert_eq!(count("kill -9") + count("SIGSTOP"), 30);
        assert_eq!(events[15].kind(), "database restart");
        for event in &events {
            assert!(event.instance < 3);
            assert!((2..=6).contains(&event.after.as_secs()), "{event:?}");
            match event.action {
                Action::Pause { length } => assert!(length > SHAPE.lease, "{length:?}"),
                Action::Kill { restart_after } => {
                    assert!(restart_after <= Duration::from_millis(500))
                }
                Action::RestartDatabase { down } => assert_eq!(down, SHAPE.database_down),
            }
        }
        let instances: std::collections::BTreeSet<usize> =
            events.iter().map(|e| e.instance).collect();
        assert_eq!(instances.len(), 3, "every instance is hit");
    }

    #[test]
    fn the_same_seed_gives_the_same_plan() {
        let a = plan(SHAPE, &mut fastrand::Rng::with_seed(3));
        let b = plan(SHAPE, &mut fastrand::Rng::with_seed(3));
        assert_eq!(a, b);
    }
}
