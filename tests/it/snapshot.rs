//! `source = "snapshot"` against the simulated EHR's schedule listing: every kind of change
//! arrives once with its type, and what is not a change (time passing, a noisy field, a
//! failed page, pages that shifted, a restart mid-listing) notifies nothing and loses nothing.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Duration as TimeDelta, Utc};
use courier::app::AppOptions;
use courier_sim::{Fault, Route, SimEhr, SimEhrOptions};
use serde_json::json;

use crate::support::app::{
    eventually, spawn_app, spawn_app_with, start_receiver, ConnectionSpec, PATIENCE,
};
use crate::support::snapshot::{
    events, in_hours, listed, listing, notifications, notified, schedule, start_on, warnings,
};

const ID: &str = "clinic-a";

#[actix_rt::test]
async fn each_change_arrives_once_with_its_type_removed_or_deleted_as_read_by_id() {
    let t = spawn_app_with(SimEhrOptions::default(), AppOptions::default(), "", |ehr| {
        vec![
            schedule(ConnectionSpec::new("confirming", ehr), 2, true),
            schedule(ConnectionSpec::new("listing-only", ehr), 2, false),
        ]
    })
    .await;
    let sched = t.ehr.control().schedule();
    let ids: Vec<String> = (1..=5).map(|h| sched.add(in_hours(h))).collect();
    listed(&t.app, "confirming", 1).await;
    listed(&t.app, "listing-only", 1).await;
    assert!(
        t.receiver.accepted().is_empty(),
        "the baseline notifies nothing"
    );
    let added = sched.add(in_hours(30));
    sched.cancel(&ids[0]);
    sched.reschedule(&ids[1], in_hours(50));
    sched.delete(&ids[2]);
    listed(&t.app, "confirming", 2).await;
    listed(&t.app, "listing-only", 2).await;
    let expected = |gone: &str| {
        let mut all = events(&[
            ("updated", &ids[0]),
            ("updated", &ids[1]),
            ("created", &added),
            (gone, &ids[2]),
        ]);
        all.sort();
        all
    };
    for (connection, gone) in [("confirming", "deleted"), ("listing-only", "removed")] {
        let mut got = notified(&t.receiver, connection);
        got.sort();
        assert_eq!(got, expected(gone), "{connection}");
    }
    let sent = notifications(&t.receiver, "confirming");
    let of = |key: &str| sent.iter().find(|n| n["data"]["key"] == key).unwrap();
    assert_eq!(of(&ids[0])["data"]["changed_elements"], json!(["/status"]));
    assert_eq!(
        of(&ids[1])["data"]["changed_elements"],
        json!(["/end", "/start"])
    );
    assert_eq!(
        of(&ids[2])["data"]["change"],
        json!(null),
        "a removal has no record"
    );
    assert_eq!(of(&added)["data"]["change"]["status"], "booked");
    assert_eq!(
        of(&added)["data"]["resources"]["patient"]["id"],
        of(&added)["data"]["change"]["patientId"]
    );
    assert_eq!(of(&added)["data"].get("backfill"), None);
}

#[actix_rt::test]
async fn a_first_listing_that_notifies_sends_the_schedule_as_a_backfill() {
    let mut ids = Vec::new();
    let t = spawn_app_with(SimEhrOptions::default(), AppOptions::default(), "", |ehr| {
        // Booked before Courier starts: the first listing finds all three.
        let sched = ehr.control().schedule();
        ids = (1..=3).map(|h| sched.add(in_hours(h))).collect();
        let spec = schedule(ConnectionSpec::new(ID, ehr), 2, true);
        vec![spec.with("initial", "\"notify\"")]
    })
    .await;
    listed(&t.app, ID, 1).await;
    let later = t.ehr.control().schedule().add(in_hours(4));
    listed(&t.app, ID, 1).await;
    let sent = notifications(&t.receiver, ID);
    let got: Vec<_> = sent
        .iter()
        .map(|n| {
            (
                n["data"]["key"].as_str().unwrap(),
                n["data"]["backfill"] == true,
            )
        })
        .collect();
    let mut expected: Vec<_> = ids.iter().map(|id| (id.as_str(), true)).collect();
    expected.push((later.as_str(), false));
    assert_eq!(got, expected, "the schedule as a backfill, then news");
    assert!(sent.iter().all(|n| n["type"] == "appointment.created"));
}

#[actix_rt::test]
async fn a_record_that_leaves_the_window_as_time_passes_is_not_removed() {
    // The window starts now: an appointment two seconds ahead leaves it by time alone.
    let t = spawn_app(SimEhrOptions::default(), |spec| {
        schedule(spec, 2, false)
            .with("list_query", "\"from={now}&to={now+14d}\"")
            .with("window_start", "\"now\"")
    })
    .await;
    let sched = t.ehr.control().schedule();
    let soon = Utc::now() + TimeDelta::seconds(2);
    let soon = DateTime::from_timestamp(soon.timestamp(), 0).unwrap();
    for start in [soon, soon, in_hours(3), in_hours(120)] {
        sched.add(start);
    }
    listed(&t.app, ID, 1).await;
    eventually("the first two to start", PATIENCE, || Utc::now() > soon).await;
    listed(&t.app, ID, 2).await;
    assert_eq!(
        notified(&t.receiver, ID),
        events(&[]),
        "time passing removes nothing"
    );
    let added = sched.add(in_hours(72));
    listed(&t.app, ID, 1).await;
    assert_eq!(notified(&t.receiver, ID), events(&[("created", &added)]));
}

#[actix_rt::test]
async fn a_failing_page_mid_listing_removes_nothing_until_a_listing_completes() {
    let t = spawn_app(SimEhrOptions::default(), |spec| schedule(spec, 2, false)).await;
    let sched = t.ehr.control().schedule();
    let ids: Vec<String> = (1..=6).map(|h| sched.add(in_hours(h))).collect();
    listed(&t.app, ID, 1).await;
    // Page 2 fails five times in a row (500, then a page without keys): each time the
    // listing reads it again, and until it is read nothing after it counts as gone.
    sched.fail_page(2, Fault::Status(500), 3);
    sched.fail_page(2, Fault::MissingKey, 2);
    sched.delete(&ids[5]);
    eventually("the failed pages", PATIENCE, || {
        t.connection(ID).polls_failed >= 5
    })
    .await;
    listed(&t.app, ID, 1).await;
    assert_eq!(notified(&t.receiver, ID), events(&[("removed", &ids[5])]));
    let status = t.connection(ID);
    assert!(
        status.poll_failures.contains_key("malformed_response"),
        "{status:?}"
    );
    assert!(
        status.poll_failures.contains_key("server_error"),
        "{status:?}"
    );
}

#[actix_rt::test]
async fn an_inconsistent_listing_removes_nothing_and_says_so_in_status() {
    let t = spawn_app(SimEhrOptions::default(), |spec| schedule(spec, 2, false)).await;
    let sched = t.ehr.control().schedule();
    sched.set_consistent(false);
    // Five appointments: three pages per listing (2, 2, 1 records).
    let ids: Vec<String> = (2..=6).map(|h| sched.add(in_hours(h))).collect();
    listed(&t.app, ID, 1).await;
    // While a listing reads its page 2, an appointment is booked before all others and the
    // last one is deleted: page 2 repeats a record, so the listing cannot tell removals.
    let armed = Arc::new(AtomicBool::new(true));
    let shifted = Arc::new(AtomicU64::new(0));
    let (control, last) = (sched.clone(), ids[4].clone());
    let (armed_in, shifted_in) = (Arc::clone(&armed), Arc::clone(&shifted));
    t.ehr.control().on_request(move |route, number| {
        if route == Route::Listing && number % 3 == 2 && armed_in.swap(false, Ordering::SeqCst) {
            control.add(in_hours(1));
            control.delete(&last);
            shifted_in.store(number, Ordering::SeqCst);
        }
    });
    eventually("a shifted listing", PATIENCE, || {
        shifted.load(Ordering::SeqCst) > 0
    })
    .await;
    let inconsistent = listing(&t.app, ID);
    eventually("the warning", PATIENCE, || !warnings(&t).is_empty()).await;
    assert!(
        warnings(&t)[0].contains("listed twice"),
        "{:?}",
        warnings(&t)
    );
    assert!(
        notified(&t.receiver, ID)
            .iter()
            .all(|(kind, _)| kind != "appointment.removed"),
        "listing {inconsistent} removed nothing"
    );
    listed(&t.app, ID, 1).await;
    let got = notified(&t.receiver, ID);
    let removed: Vec<_> = got
        .iter()
        .filter(|(k, _)| k == "appointment.removed")
        .collect();
    assert_eq!(
        removed,
        [&("appointment.removed".to_owned(), ids[4].clone())]
    );
    assert_eq!(
        got.len(),
        2,
        "the new one created, the deleted one removed: {got:?}"
    );
    assert!(
        warnings(&t).is_empty(),
        "a consistent listing clears the warning"
    );
}

#[actix_rt::test]
async fn fields_left_out_of_compare_make_no_notification() {
    let t = spawn_app(SimEhrOptions::default(), |spec| schedule(spec, 2, true)).await;
    let sched = t.ehr.control().schedule();
    let ids: Vec<String> = (1..=3).map(|h| sched.add(in_hours(h))).collect();
    listed(&t.app, ID, 1).await;
    // `lastViewed` changes on every read; `reminders` is bumped here.
    for id in &ids {
        sched.touch_noise(id);
    }
    listed(&t.app, ID, 3).await;
    assert_eq!(notified(&t.receiver, ID), events(&[]));
    sched.set_status(&ids[1], "arrived");
    listed(&t.app, ID, 1).await;
    assert_eq!(notified(&t.receiver, ID), events(&[("updated", &ids[1])]));
}

#[actix_rt::test]
async fn a_restart_mid_listing_notifies_each_change_once_and_loses_none() {
    let ehr = SimEhr::start(SimEhrOptions::default()).unwrap();
    let (receiver, secret) = start_receiver();
    let dir = tempfile::tempdir().unwrap();
    let sched = ehr.control().schedule();
    let ids: Vec<String> = (1..=10).map(|h| sched.add(in_hours(h))).collect();
    let spec = |spec| schedule(spec, 2, true);
    let first = start_on(dir.path(), &ehr, &receiver, &secret, spec).await;
    listed(&first, ID, 1).await;
    // Changes on every page; the app stops while the next listing reads its page 4.
    let mut expected = Vec::new();
    for (n, id) in ids.iter().enumerate().step_by(2) {
        sched.cancel(id);
        expected.push(("appointment.updated".to_owned(), id.clone()));
        if n == 4 {
            sched.delete(&ids[n + 1]);
            expected.push(("appointment.deleted".to_owned(), ids[n + 1].clone()));
        }
    }
    let added = sched.add(in_hours(11));
    expected.push(("appointment.created".to_owned(), added));
    // A page takes 100 ms, so the stop below lands inside the listing.
    ehr.set_latency(Duration::from_millis(100));
    let at = ehr.requests(Route::Listing);
    // Six requests a listing (five pages and an empty one): page 4 of a listing that began
    // after the changes.
    let page_4 = (at + 7..).find(|n| n % 6 == 4).unwrap();
    eventually("page 4 of the listing", PATIENCE, || {
        ehr.requests(Route::Listing) >= page_4
    })
    .await;
    let cursor = first.status().connections[ID]
        .cursor
        .clone()
        .unwrap_or_default();
    assert!(cursor.contains(" page "), "stopped mid-listing: {cursor}");
    first.shutdown(Duration::from_secs(2)).await.unwrap();
    let before = notified(&receiver, ID).len();
    let second = start_on(dir.path(), &ehr, &receiver, &secret, spec).await;
    listed(&second, ID, 2).await;
    let mut got = notified(&receiver, ID);
    got.sort();
    expected.sort();
    assert_eq!(
        got, expected,
        "each change once ({before} before the restart)"
    );
    let unique = receiver.unique_accepted_ids();
    assert_eq!(unique, expected.len(), "duplicates only with the same id");
    second.shutdown(Duration::from_secs(2)).await.unwrap();
}

#[actix_rt::test]
async fn a_listing_paged_by_next_links_notifies_as_one_paged_by_offset() {
    let t = spawn_app(SimEhrOptions::default(), |spec| {
        schedule(spec, 2, false)
            .without("offset_param")
            .without("page_size_param")
            .without("page_size")
            .with("next_pointer", "\"/next\"")
            .with("list_query", "\"from={now-1d}&to={now+14d}&limit=2\"")
    })
    .await;
    let sched = t.ehr.control().schedule();
    let ids: Vec<String> = (1..=5).map(|h| sched.add(in_hours(h))).collect();
    listed(&t.app, ID, 1).await;
    let pages = t.ehr.requests(Route::Listing);
    sched.cancel(&ids[4]);
    sched.delete(&ids[0]);
    let added = sched.add(in_hours(6));
    listed(&t.app, ID, 1).await;
    let mut got = notified(&t.receiver, ID);
    got.sort();
    let mut expected = events(&[
        ("updated", &ids[4]),
        ("removed", &ids[0]),
        ("created", &added),
    ]);
    expected.sort();
    assert_eq!(got, expected);
    assert!(
        t.ehr.requests(Route::Listing) >= pages + 3,
        "three linked pages a listing"
    );
}
