//! The changes the simulated EHRs make while the torture runs, and the check that each of
//! them arrived: every change number of a feed must be the version of an acknowledged
//! notification of its connection.

use std::time::{Duration, Instant};

use courier_sim::{EhrControl, Problems, ReceiverControl};

/// How often the generator makes the changes that fell due.
const TICK: Duration = Duration::from_millis(10);

/// Makes `changes` changes at `rate` per second, in 10 ms batches, each to a random
/// appointment of an EHR drawn at random from `ehrs` (seeded by `seed`).
pub async fn generate(ehrs: Vec<EhrControl>, changes: u64, rate: f64, seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let started = Instant::now();
    let mut made = 0;
    while made < changes && !ehrs.is_empty() {
        actix_rt::time::sleep(TICK).await;
        let due = ((started.elapsed().as_secs_f64() * rate) as u64).min(changes);
        for _ in made..due {
            ehrs[rng.usize(..ehrs.len())].touch_random();
        }
        made = due;
    }
}

/// The change numbers in 1..=changes of `connection`'s feed that no acknowledged
/// notification carried as its version (the torture configures `version_pointer = "/seq"`).
pub fn missing_versions(receiver: &ReceiverControl, connection: &str, changes: u64) -> Problems {
    let mut seen = vec![false; changes as usize + 1];
    receiver.with_ledger(|ledger| {
        for (_, identity) in ledger.identities() {
            let Some(identity) = identity.filter(|i| i.connection == connection) else {
                continue;
            };
            if let Ok(version) = identity.version.parse::<usize>() {
                if let Some(slot) = seen.get_mut(version) {
                    *slot = true;
                }
            }
        }
    });
    let mut missing = Problems::default();
    for (version, _) in seen.iter().enumerate().skip(1).filter(|(_, s)| !**s) {
        missing.count += 1;
        if missing.examples.len() < 10 {
            missing
                .examples
                .push(format!("{connection} version {version}"));
        }
    }
    missing
}
