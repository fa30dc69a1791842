//! The schedule listing over real HTTP, as a snapshot source reads it: windows, offset and link
//! paging, consistent and live paging under a concurrent change, faults per page, and reads by
//! id after a deletion.

use std::collections::BTreeSet;
use std::time::Duration;

use actix_web::http::StatusCode;
use chrono::{Duration as TimeDelta, Utc};
use serde_json::Value;

use super::*;
use crate::{eventually, SimEhr, SimEhrOptions};

async fn get(url: &str) -> (StatusCode, Vec<u8>) {
    let mut response = awc::Client::default().get(url).send().await.unwrap();
    let body = response.body().limit(1 << 26).await.unwrap().to_vec();
    (response.status(), body)
}

async fn get_json(url: &str) -> (StatusCode, Value) {
    let (status, body) = get(url).await;
    (status, serde_json::from_slice(&body).unwrap())
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("a page has items")
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

/// A sim EHR whose schedule has `appt-1`…`appt-{count}`, one an hour from tomorrow 00:00 UTC.
fn ehr(count: usize) -> (SimEhr, ScheduleControl) {
    let ehr = SimEhr::start(SimEhrOptions::default()).unwrap();
    let schedule = ehr.schedule();
    let tomorrow = (Utc::now() + TimeDelta::days(1)).date_naive();
    let midnight = tomorrow.and_hms_opt(0, 0, 0).unwrap().and_utc();
    for hour in 0..count {
        schedule.add(midnight + TimeDelta::hours(hour as i64));
    }
    (ehr, schedule)
}

fn tomorrow() -> String {
    (Utc::now() + TimeDelta::days(1))
        .date_naive()
        .format("%Y-%m-%d")
        .to_string()
}

/// Follows `next` from `first` to the end: every page's ids, in order.
async fn follow(first: &str) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut url = Some(first.to_owned());
    while let Some(next) = url {
        let (status, page) = get_json(&next).await;
        assert_eq!(status, StatusCode::OK, "{next}: {page}");
        pages.push(ids(&page));
        url = page["next"].as_str().map(str::to_owned);
    }
    pages
}

#[actix_rt::test]
async fn offset_pages_cover_a_date_window_and_an_rfc3339_window_alike() {
    let (ehr, schedule) = ehr(5);
    let day = tomorrow();
    schedule.add(format!("{day}T00:00:00Z").parse().unwrap());
    let base = format!("{}/schedule", ehr.base_url());
    let url = format!("{base}?from={day}&to={day}T03:00:00Z&offset=0&limit=2");
    let (status, first) = get_json(&url).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first["total"], 4);
    assert_eq!(ids(&first), ["appt-1", "appt-6"], "ties by start go by id");
    let url = format!("{base}?from={day}T00:00:00Z&to={day}T03:00:00Z&offset=2&limit=2");
    let (_, second) = get_json(&url).await;
    assert_eq!(ids(&second), ["appt-2", "appt-3"]);
    let item = &second["items"][0];
    for key in ["patientId", "status", "start", "end", "lastViewed"] {
        assert!(item[key].is_string(), "{key} in {item}");
    }
    assert_eq!(item["start"], format!("{day}T01:00:00Z"));
    assert_eq!(ehr.schedule().requests(), 2);
    ehr.stop().await;
}

#[actix_rt::test]
async fn next_links_list_every_record_once_in_order() {
    let (ehr, _) = ehr(7);
    let first = format!("{}/schedule?from={}&limit=3", ehr.base_url(), tomorrow());
    let pages = follow(&first).await;
    assert_eq!(pages.len(), 3);
    let listed: Vec<String> = pages.concat();
    let expected: Vec<String> = (1..=7).map(|n| format!("appt-{n}")).collect();
    assert_eq!(listed, expected);
    ehr.stop().await;
}

/// Lists with pages of 2, deleting `appt-1` once page 1 was read; the ids listed.
async fn list_while_deleting(consistent: bool) -> Vec<String> {
    let (ehr, schedule) = ehr(6);
    schedule.set_consistent(consistent);
    let base = format!("{}/schedule?from={}", ehr.base_url(), tomorrow());
    let (_, first) = get_json(&format!("{base}&offset=0&limit=2")).await;
    schedule.delete("appt-1");
    let mut listed = ids(&first);
    let mut next = first["next"].as_str().map(str::to_owned);
    while let Some(url) = next {
        let (_, page) = get_json(&url).await;
        listed.extend(ids(&page));
        next = page["next"].as_str().map(str::to_owned);
    }
    ehr.stop().await;
    listed
}

#[actix_rt::test]
async fn a_consistent_listing_is_unmoved_by_a_deletion_between_its_pages() {
    let listed = list_while_deleting(true).await;
    let expected: Vec<String> = (1..=6).map(|n| format!("appt-{n}")).collect();
    assert_eq!(listed, expected);
}

#[actix_rt::test]
async fn an_inconsistent_listing_skips_a_record_after_a_deletion_between_its_pages() {
    let listed = list_while_deleting(false).await;
    assert_eq!(listed, ["appt-1", "appt-2", "appt-4", "appt-5", "appt-6"]);
}

#[actix_rt::test]
async fn offset_paging_of_an_inconsistent_listing_repeats_a_record_after_an_insert() {
    let (ehr, schedule) = ehr(4);
    schedule.set_consistent(false);
    let base = format!("{}/schedule?from={}&limit=2", ehr.base_url(), tomorrow());
    let (_, first) = get_json(&format!("{base}&offset=0")).await;
    schedule.add(format!("{}T00:00:00Z", tomorrow()).parse().unwrap());
    let (_, second) = get_json(&format!("{base}&offset=2")).await;
    let (_, third) = get_json(&format!("{base}&offset=4")).await;
    assert_eq!(ids(&first), ["appt-1", "appt-2"]);
    assert_eq!(ids(&second), ["appt-2", "appt-3"], "appt-2 again");
    assert_eq!(ids(&third), ["appt-4"]);
    assert_eq!(second["total"], 5);
    ehr.stop().await;
}

#[actix_rt::test]
async fn faults_hit_the_pages_they_name_and_retries_then_succeed() {
    let (ehr, schedule) = ehr(6);
    schedule.fail_page(2, Fault::Status(500), 1);
    schedule.fail_page(3, Fault::Garbage, 1);
    let base = format!("{}/schedule?from={}&limit=2", ehr.base_url(), tomorrow());
    let (status, first) = get_json(&format!("{base}&offset=0")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = get(&format!("{base}&offset=2")).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let (status, second) = get_json(&format!("{base}&offset=2")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(&second), ["appt-3", "appt-4"]);
    let third = first["next"].as_str().unwrap().replace("-2&", "-4&");
    let (status, body) = get(&third).await;
    assert_eq!(status, StatusCode::OK);
    assert!(serde_json::from_slice::<Value>(&body).is_err(), "garbled");
    let (_, third) = get_json(&third).await;
    assert_eq!(ids(&third), ["appt-5", "appt-6"]);
    ehr.inject(Route::Listing, Fault::MissingKey, 1);
    ehr.inject(Route::Listing, Fault::WrongShape, 1);
    let (_, stripped) = get_json(&base).await;
    assert!(stripped["items"][0].get("id").is_none());
    assert!(get_json(&base).await.1.is_array());
    assert_eq!(ehr.pending_faults(Route::Listing), 0);
    ehr.stop().await;
}

#[actix_rt::test]
async fn a_deleted_appointment_reads_404_or_410_and_a_live_one_reads_as_listed() {
    let (ehr, schedule) = ehr(2);
    let url = |id: &str| format!("{}/appointments/{id}", ehr.base_url());
    let (status, record) = get_json(&url("appt-2")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(record["status"], "booked");
    schedule.cancel("appt-2");
    assert_eq!(get_json(&url("appt-2")).await.1["status"], "cancelled");
    schedule.delete("appt-2");
    assert_eq!(get(&url("appt-2")).await.0, StatusCode::NOT_FOUND);
    schedule.set_gone_status(410);
    assert_eq!(get(&url("appt-2")).await.0, StatusCode::GONE);
    assert!(schedule.record("appt-2").is_none());
    let own = |id: &str| format!("{}/schedule/{id}", ehr.base_url());
    assert_eq!(get(&own("appt-2")).await.0, StatusCode::GONE);
    assert_eq!(get_json(&own("appt-1")).await.1["status"], "booked");
    assert_eq!(get(&own("appt-5")).await.0, StatusCode::NOT_FOUND);
    let (status, feed_record) = get_json(&url("appt-5")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(feed_record["resourceType"], "Appointment", "the feed's own");
    ehr.stop().await;
}

#[actix_rt::test]
async fn unreadable_parameters_and_expired_cursors_are_400() {
    let (ehr, _) = ehr(1);
    let base = format!("{}/schedule", ehr.base_url());
    for query in [
        "from=next-tuesday",
        "to=2026-13-01",
        "limit=0",
        "limit=10001",
        "offset=-1",
        "cursor=abc",
        "cursor=v999-2",
    ] {
        let (status, _) = get(&format!("{base}?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
    }
    ehr.stop().await;
}

#[actix_rt::test]
async fn a_hundred_thousand_appointments_list_in_pages_and_one_percent_change() {
    let ehr = SimEhr::start(SimEhrOptions::default()).unwrap();
    let schedule = ehr.schedule();
    schedule.generate(100_000, TimeDelta::days(-1), TimeDelta::days(14));
    let first = format!("{}/schedule?limit=10000", ehr.base_url());
    let pages = follow(&first).await;
    let listed: BTreeSet<String> = pages.concat().into_iter().collect();
    assert_eq!((pages.len(), listed.len()), (10, 100_000));
    let changed = schedule.change_percent(1.0);
    assert!((900..=1_000).contains(&changed), "{changed}");
    assert_eq!(schedule.len(), 100_000);
    ehr.stop().await;
}

#[actix_rt::test]
async fn change_every_also_changes_a_filled_schedule() {
    let ehr = SimEhr::start(SimEhrOptions {
        change_every: Some(Duration::from_millis(5)),
        ..SimEhrOptions::default()
    })
    .unwrap();
    let schedule = ehr.schedule();
    schedule.generate(50, TimeDelta::hours(1), TimeDelta::days(2));
    let before = fingerprint(&schedule);
    eventually("a change to the schedule", Duration::from_secs(5), || {
        fingerprint(&schedule) != before
    })
    .await;
    ehr.stop().await;
}

/// Each appointment's status and start, and the number of appointments (new ones included).
fn fingerprint(schedule: &ScheduleControl) -> (usize, Vec<Option<(Value, Value)>>) {
    let rows = (1..=50)
        .map(|n| {
            let record = schedule.record(&format!("appt-{n}"))?;
            Some((record["status"].clone(), record["start"].clone()))
        })
        .collect();
    (schedule.len(), rows)
}
