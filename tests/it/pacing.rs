//! A connection's requests share one pace: a `Retry-After` that an EHR sends on any request
//! holds back every request of that connection, polls included.

use std::time::{Duration, Instant};

use courier::sim::{Fault, Route, SimEhrOptions};

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
