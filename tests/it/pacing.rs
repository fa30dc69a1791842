//! A connection's requests share one pace: a `Retry-After` that an EHR sends on any request
//! holds back every request of that connection, polls included.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use courier_sim::{Fault, Route, SimEhrOptions};

use crate::support::app::{eventually, spawn_app, PATIENCE};

#[actix_rt::test]
async fn retry_after_on_an_enrichment_request_delays_the_next_poll_of_the_connection() {
    // backoff_max_secs caps an honoured Retry-After; the test default (0.2 s) would hide it.
    let t = spawn_app(SimEhrOptions::default(), |c| {
        c.with("backoff_max_secs", "5")
    })
    .await;
    eventually("steady polling", PATIENCE, || {
        t.ehr.requests(Route::Feed) >= 3
    })
    .await;
    let unpaused = Instant::now();
    let polls = t.ehr.requests(Route::Feed);
    eventually("two more polls", PATIENCE, || {
        t.ehr.requests(Route::Feed) >= polls + 2
    })
    .await;
    let two_polls = unpaused.elapsed();

    let throttle = Fault::TooManyRequests {
        retry_after_secs: 1,
    };
    t.ehr.inject(Route::Details, throttle, 1);
    t.ehr.touch("appt-1");
    eventually("the enrichment throttled", PATIENCE, || {
        t.ehr.pending_faults(Route::Details) == 0
    })
    .await;
    let throttled = Instant::now();
    let polls = t.ehr.requests(Route::Feed);
    // At most one poll was past the pause when it began; the one after it waits it out.
    eventually("two more polls", PATIENCE, || {
        t.ehr.requests(Route::Feed) >= polls + 2
    })
    .await;
    let paused = throttled.elapsed();
    // One second less what sampling the fault late may have cost, and far above two polls
    // without a pause.
    assert!(
        paused >= Duration::from_millis(700) && paused > two_polls * 3,
        "two polls took {paused:?} after the 429, {two_polls:?} before"
    );
    assert_eq!(
        t.connection("clinic-a").polls_failed,
        0,
        "polls waited, none failed"
    );
    eventually("the change delivered", PATIENCE, || {
        t.receiver.unique_accepted_ids() == 1
    })
    .await;
}

/// The most requests `times` holds in any one second.
fn busiest_second(times: &[Instant]) -> usize {
    (0..times.len())
        .map(|i| {
            let end = times[i] + Duration::from_secs(1);
            times[i..].iter().take_while(|t| **t < end).count()
        })
        .max()
        .unwrap_or(0)
}

#[actix_rt::test]
async fn the_end_of_a_retry_after_pause_keeps_the_rate_instead_of_releasing_a_burst() {
    let ehr = SimEhrOptions {
        appointments: 20,
        ..SimEhrOptions::default()
    };
    let t = spawn_app(ehr, |c| {
        c.with("backoff_max_secs", "5")
            .with("max_requests_per_sec", "5")
    })
    .await;
    let seen: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let log = Arc::clone(&seen);
    t.ehr
        .on_request(move |_, _| log.lock().unwrap().push(Instant::now()));
    // Fifteen enrichments queue for their slots, 200 ms apart; the first is told to pause.
    let throttle = Fault::TooManyRequests {
        retry_after_secs: 2,
    };
    t.ehr.inject(Route::Details, throttle, 1);
    for n in 1..=15 {
        t.ehr.touch(&format!("appt-{n}"));
    }
    eventually("every change delivered", PATIENCE, || {
        t.receiver.unique_accepted_ids() == 15
    })
    .await;
    assert_eq!(
        t.ehr.pending_faults(Route::Details),
        0,
        "the pause happened"
    );
    let times = seen.lock().unwrap().clone();
    // Five a second, spaced evenly: a window can hold one more at its edge, and one for the
    // server seeing two requests closer than they left.
    let busiest = busiest_second(&times);
    assert!(busiest <= 7, "{busiest} requests in one second at 5/s");
}
