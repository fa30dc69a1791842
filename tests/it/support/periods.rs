//! Periods in which a test checks that something does not happen (a poll while paused, a
//! stray duplicate), delimited by events the test observes instead of by sleeps: an EHR's
//! recorded poll times, a metronome connection's polls, the pipeline gone quiet.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use courier::app::App;
use courier_sim::{Route, SimEhr, SimEhrOptions};

use super::app::{eventually, ConnectionSpec, PATIENCE};

/// When each request for one EHR's changes feed arrived, recorded from the moment
/// [`PollTimes::record`] was called.
pub struct PollTimes(Arc<Mutex<Vec<Instant>>>);

impl PollTimes {
    /// Records `ehr`'s feed requests from now on (this replaces the EHR's request observer).
    pub fn record(ehr: &SimEhr) -> Self {
        let times = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&times);
        ehr.control().on_request(move |route, _| {
            if route == Route::Feed {
                seen.lock().unwrap().push(Instant::now());
            }
        });
        Self(times)
    }

    /// Every arrival so far, oldest first.
    pub fn times(&self) -> Vec<Instant> {
        self.0.lock().unwrap().clone()
    }

    /// Waits for a feed request that arrives at `end` or later: the event that closes a
    /// period ending at `end`, so nothing sleeps through it.
    pub async fn past(&self, end: Instant) {
        eventually("a poll after the period", PATIENCE, || {
            self.times().last().is_some_and(|last| *last >= end)
        })
        .await;
    }

    /// How many feed requests arrived in `period` from `since`, answered once one arrives
    /// after it.
    pub async fn within(&self, since: Instant, period: Duration) -> usize {
        let end = since + period;
        self.past(end).await;
        let times = self.times();
        times.iter().filter(|t| **t >= since && **t < end).count()
    }
}

/// A connection that only keeps time: it polls an EHR of its own, which has no changes,
/// every [`Metronome::INTERVAL`]. Its polls run on Courier's own runtime, so a period it
/// measures stretches when Courier is slow instead of running out early.
pub struct Metronome {
    ehr: SimEhr,
}

impl Metronome {
    /// The metronome connection's id.
    pub const ID: &'static str = "metronome";

    /// Its poll interval (`interval_secs = 0.05`).
    pub const INTERVAL: Duration = Duration::from_millis(50);

    /// A metronome's EHR; add [`Metronome::connection`] to the app's connections.
    pub fn start() -> Self {
        let options = SimEhrOptions {
            initial_changes: 0,
            ..SimEhrOptions::default()
        };
        Self {
            ehr: SimEhr::start(options).expect("the metronome's EHR starts"),
        }
    }

    /// The metronome's connection, for the app's configuration.
    pub fn connection(&self) -> ConnectionSpec {
        ConnectionSpec::new(Self::ID, &self.ehr).with("interval_secs", "0.05")
    }

    /// Waits until the metronome has polled through `period`: `period / INTERVAL + 1` more
    /// polls, at least `period` apart from first to last (a poll waits its interval after
    /// the one before ended).
    pub async fn through(&self, period: Duration) {
        let beats = period.as_millis().div_ceil(Self::INTERVAL.as_millis()) as u64 + 1;
        let start = self.ehr.requests(Route::Feed);
        eventually(&format!("{beats} metronome polls"), PATIENCE, || {
            self.ehr.requests(Route::Feed) >= start + beats
        })
        .await;
    }
}

/// Waits until connection `id` of `app` has polled `polls` more times (well or not) and
/// destination `app` has nothing stored or in flight: whatever those polls found has been
/// delivered, so a notification that should not come (a duplicate, a change that changes
/// nothing) has had its chance to arrive.
pub async fn settled(app: &App, id: &str, polls: u64) {
    let done = |app: &App| {
        let connection = app.status().connections[id].clone();
        connection.polls_ok + connection.polls_failed
    };
    let start = done(app);
    eventually(
        &format!("{polls} more polls, all delivered"),
        PATIENCE,
        || {
            let destination = app.status().destinations["app"].clone();
            done(app) >= start + polls
                && destination.backlog == Some(0)
                && destination.in_flight == 0
        },
    )
    .await;
}
