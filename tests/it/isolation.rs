//! One connection's failure is its own: EHR errors back off without moving the cursor past
//! unseen data, and the other connection keeps delivering. (That a panic restarts only its
//! connection is a unit test of the supervisor: the product has no hook to inject one.)

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use courier::app::{App, AppOptions};
use courier::store::Store;
use courier_sim::{Fault, Route, SimEhr, SimEhrOptions, SimReceiver};

use crate::support::app::{
    config_text, eventually, parse_config, start_receiver, ConnectionSpec, PATIENCE,
};
use crate::support::periods::PollTimes;

/// Two EHRs, one receiver, and Courier with connections `flaky` and `steady`.
struct TwoConnections {
    app: App,
    flaky: SimEhr,
    steady: SimEhr,
    receiver: SimReceiver,
    _dir: tempfile::TempDir,
}

fn start() -> TwoConnections {
    let flaky = SimEhr::start(SimEhrOptions::default()).unwrap();
    let steady = SimEhr::start(SimEhrOptions::default()).unwrap();
    let (receiver, secret) = start_receiver();
    let dir = tempfile::tempdir().unwrap();
    let specs = [
        ConnectionSpec::new("flaky", &flaky),
        ConnectionSpec::new("steady", &steady),
    ];
    let config = parse_config(
        &config_text(dir.path(), &receiver.url(), "", &specs),
        &secret,
    );
    let app = App::start(
        config,
        Store::open(dir.path()).unwrap(),
        AppOptions::default(),
    );
    TwoConnections {
        app,
        flaky,
        steady,
        receiver,
        _dir: dir,
    }
}

impl TwoConnections {
    /// Distinct (key, version) pairs delivered for `connection`, and its sequences.
    fn delivered(&self, connection: &str) -> (BTreeSet<(String, String)>, BTreeSet<u64>) {
        self.receiver.delivered_of(connection)
    }
}

#[actix_rt::test]
async fn ehr_errors_back_off_lose_nothing_and_leave_the_other_connection_alone() {
    let t = start();
    // The flaky EHR has changes waiting, then answers every kind of failure in turn.
    let flaky_changes = t.flaky.touch_each(6);
    let faults = [
        Fault::Status(500),
        Fault::Status(503),
        Fault::TooManyRequests {
            retry_after_secs: 1,
        },
        Fault::Garbage,
        Fault::WrongShape,
        Fault::MissingKey,
        Fault::Hang(std::time::Duration::from_secs(3)),
        Fault::Status(502),
    ];
    let fault_count = faults.len();
    for fault in faults {
        t.flaky.inject(Route::Feed, fault, 1);
    }
    let steady_changes = t.steady.touch_each(5);

    eventually("the steady connection's notifications", PATIENCE, || {
        t.delivered("steady").0 == steady_changes
    })
    .await;
    eventually("every fault consumed", PATIENCE * 2, || {
        t.flaky.pending_faults(Route::Feed) == 0
    })
    .await;
    eventually("the flaky connection's notifications", PATIENCE, || {
        t.delivered("flaky").0 == flaky_changes
    })
    .await;

    let (_, sequences) = t.delivered("flaky");
    assert_eq!(
        sequences,
        (1..=6).collect(),
        "nothing skipped, nothing numbered twice"
    );
    assert_eq!(t.receiver.summary().duplicates, 0);
    let status = t.app.status();
    let flaky = &status.connections["flaky"];
    assert_eq!(
        flaky.polls_failed, fault_count as u64,
        "each fault was one failed poll"
    );
    assert_eq!(flaky.last_error, None, "cleared by the recovery");
    assert_eq!(flaky.consecutive_failures, 0);
    let steady = &status.connections["steady"];
    assert_eq!(steady.polls_failed, 0);
    assert_eq!(steady.restarts, 0);
}

#[actix_rt::test]
async fn a_failing_connection_shows_its_error_in_status_while_it_backs_off() {
    let t = start();
    t.flaky.touch("appt-1");
    t.flaky.inject(Route::Feed, Fault::Status(500), 1000);
    eventually("a few failed polls", PATIENCE, || {
        t.app.status().connections["flaky"].consecutive_failures >= 3
    })
    .await;
    let flaky = t.app.status().connections["flaky"].clone();
    let error = flaky.last_error.expect("the error is shown");
    assert!(error.contains("HTTP 500"), "{error}");
    assert_eq!(flaky.cursor, None, "no successful poll, no cursor movement");
    assert!(t.delivered("flaky").0.is_empty());
    // The backoff spaces the polls out instead of hammering the EHR.
    let polls = PollTimes::record(&t.flaky);
    let during = polls
        .within(Instant::now(), Duration::from_millis(300))
        .await;
    assert!(
        during <= 4,
        "{during} polls in 300 ms with a 200 ms backoff cap"
    );
}
