//! The cursor rules of issue 12 as an operator sees them: a feed page whose positions mix
//! kinds and a `Date` header from a clock far ahead are each refused and shown in status and
//! metrics, the cursor never jumps, and every later change still arrives; a feed that ignores
//! `since` is named as such.

use chrono::{DateTime, Utc};
use courier_sim::{Fault, SimEhrOptions};
use serde_json::json;

use crate::support::app::{eventually, spawn_app, TestApp, PATIENCE};

/// Failed polls of `clinic-a` of one kind, as status and `courier_poll_failures_total` count.
fn failures(t: &TestApp, kind: &str) -> u64 {
    let status = t.connection("clinic-a");
    status.poll_failures.get(kind).copied().unwrap_or(0)
}

fn last_error(t: &TestApp) -> String {
    t.connection("clinic-a").last_error.unwrap_or_default()
}

async fn delivered(t: &TestApp, count: usize) {
    eventually(&format!("{count} notifications"), PATIENCE, || {
        t.receiver.unique_accepted_ids() == count
    })
    .await;
}

#[actix_rt::test]
async fn a_page_mixing_number_and_time_positions_is_refused_and_later_changes_still_arrive() {
    let t = spawn_app(SimEhrOptions::default(), |c| c).await;
    t.ehr.touch("appt-1");
    delivered(&t, 1).await;
    assert_eq!(t.connection("clinic-a").cursor.as_deref(), Some("1"));

    // The feed answers a number, then a time: the issue's `[12, time]` page.
    let mixed = json!([
        {"seq": 2, "id": "appt-2", "patientId": "pat-1"},
        {"seq": "2026-12-01T00:00:00Z", "id": "appt-3", "patientId": "pat-1"},
    ]);
    t.ehr.set_outage(Some(Fault::Page(mixed)));
    eventually("the mixed page refused twice", PATIENCE, || {
        failures(&t, "cursor_kind") >= 2
    })
    .await;
    assert_eq!(
        last_error(&t),
        "the answer of /appointments/changed was refused: item 1 (key appt-3) is at \
         2026-12-01T00:00:00Z, a time, where item 0 is at a number: a feed's positions must \
         all be of one kind"
    );
    let status = t.connection("clinic-a");
    assert_eq!(
        status.cursor.as_deref(),
        Some("1"),
        "the cursor never moved"
    );
    assert_eq!(status.changes, 1, "nothing of the refused page was stored");

    // The feed recovers; the changes after the refused page all arrive.
    t.ehr.set_outage(None);
    for id in ["appt-2", "appt-3", "appt-4"] {
        t.ehr.touch(id);
    }
    delivered(&t, 4).await;
    let status = t.connection("clinic-a");
    assert_eq!(status.cursor.as_deref(), Some("4"));
    assert_eq!(status.items_behind_cursor, 0);
}

#[actix_rt::test]
async fn a_date_header_from_a_clock_far_ahead_is_refused_and_never_becomes_the_cursor() {
    let t = spawn_app(SimEhrOptions::default(), |c| c.date_header("1")).await;
    t.ehr.touch("appt-1");
    delivered(&t, 1).await;

    t.ehr
        .set_outage(Some(Fault::Date("Thu, 01 Jan 2099 00:00:00 GMT".into())));
    eventually("the future Date refused twice", PATIENCE, || {
        failures(&t, "clock_skew") >= 2
    })
    .await;
    let error = last_error(&t);
    assert!(
        error.starts_with(
            "the answer of /appointments/changed was refused: the Date header Thu, 1 Jan 2099 \
             00:00:00 +0000 is "
        ) && error.ends_with(
            "s ahead of Courier's clock, more than max_clock_skew_secs (300 s): a cursor never \
             moves there"
        ),
        "{error}"
    );
    let cursor = t.connection("clinic-a").cursor.expect("a cursor");
    let cursor: DateTime<Utc> = cursor.parse().expect("an RFC 3339 cursor");
    assert!(
        cursor <= Utc::now(),
        "the cursor stayed behind the clock: {cursor}"
    );

    t.ehr.set_outage(None);
    t.ehr.touch("appt-2");
    delivered(&t, 2).await;
}

#[actix_rt::test]
async fn a_feed_that_ignores_since_is_named_as_such_not_as_a_crowded_position() {
    let options = SimEhrOptions {
        initial_changes: 200,
        ..SimEhrOptions::default()
    };
    let t = spawn_app(options, |c| c.with("page_size", "5")).await;
    t.ehr.set_ignore_since(true);
    eventually("the stuck page given up", PATIENCE, || {
        failures(&t, "stuck_page") >= 1
    })
    .await;
    let error = last_error(&t);
    assert!(
        error.starts_with("the feed's page starts before the cursor: ")
            && error.contains("so the feed ignores \"since\" or reads it coarser"),
        "{error}"
    );
}
