//! The schedule's listing rules without a server: windows, order, paging and snapshots.

use super::*;

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn now() -> DateTime<Utc> {
    at("2026-12-06T12:00:00Z")
}

/// Appointments `appt-1`… at the given starts.
fn schedule(starts: &[&str]) -> Schedule {
    let mut schedule = Schedule::new(3, 1);
    for start in starts {
        schedule.add(at(start), 30);
    }
    schedule
}

fn ids(page: &Page) -> Vec<String> {
    page.items
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

fn query(offset: usize, limit: usize) -> PageQuery {
    PageQuery {
        offset,
        limit,
        ..PageQuery::default()
    }
}

/// Every id a listing returns, page after page, following `next` as a client would.
fn list_all(schedule: &mut Schedule, limit: usize) -> Vec<String> {
    let mut listed = Vec::new();
    let mut next = Some(query(0, limit));
    while let Some(q) = next {
        let page = schedule.page(&q, now()).unwrap();
        listed.extend(ids(&page));
        next = page.next.map(|next| match next {
            Next::Pinned { version, offset } => PageQuery {
                version: Some(version),
                ..query(offset, limit)
            },
            Next::Live { offset } => query(offset, limit),
        });
    }
    listed
}

#[test]
fn a_window_selects_starts_from_inclusive_to_exclusive_ordered_by_start_then_id() {
    let mut schedule = schedule(&[
        "2026-12-07T10:00:00Z",
        "2026-12-07T09:00:00Z",
        "2026-12-08T00:00:00Z",
        "2026-12-07T09:00:00Z",
        "2026-12-06T23:59:59Z",
    ]);
    let rfc3339 = PageQuery {
        from: parse_time("2026-12-07T00:00:00Z"),
        to: parse_time("2026-12-08T00:00:00+00:00"),
        ..query(0, 10)
    };
    let page = schedule.page(&rfc3339, now()).unwrap();
    assert_eq!(ids(&page), ["appt-2", "appt-4", "appt-1"]);
    assert_eq!(page.total, 3);
    assert_eq!(page.next, None);
    let dates = PageQuery {
        from: parse_time("2026-12-07"),
        to: parse_time("2026-12-08"),
        ..query(0, 10)
    };
    assert_eq!(ids(&schedule.page(&dates, now()).unwrap()), ids(&page));
}

#[test]
fn window_bounds_read_rfc3339_with_a_decoded_plus_and_plain_dates_only() {
    assert_eq!(parse_time("2026-12-07"), Some(1_796_601_600));
    assert_eq!(parse_time("2026-12-07T01:00:00 01:00"), Some(1_796_601_600));
    assert_eq!(parse_time("2026-12-07T00:00:00Z"), Some(1_796_601_600));
    assert_eq!(parse_time("07/12/2026"), None);
    assert_eq!(parse_time("tomorrow"), None);
}

#[test]
fn a_record_shows_its_fields_and_last_viewed_changes_with_every_read() {
    let mut schedule = schedule(&["2026-12-07T09:00:00Z"]);
    let Lookup::Found(first) = schedule.record("appt-1", now()) else {
        panic!("appt-1 exists");
    };
    assert_eq!(first["status"], "booked");
    assert_eq!(first["start"], "2026-12-07T09:00:00Z");
    assert_eq!(first["end"], "2026-12-07T09:30:00Z");
    assert!(first["patientId"].as_str().unwrap().starts_with("pat-"));
    let later = now() + TimeDelta::milliseconds(1);
    let Lookup::Found(second) = schedule.record("appt-1", later) else {
        panic!("appt-1 exists");
    };
    assert_ne!(first["lastViewed"], second["lastViewed"]);
    assert!(schedule.touch_noise("appt-1"));
    let page = schedule.page(&query(0, 10), now()).unwrap();
    assert_eq!(page.items[0]["reminders"], 1);
    assert_eq!(page.items[0]["status"], first["status"]);
}

#[test]
fn deleted_records_are_gone_and_unknown_ids_are_not_the_schedules() {
    let mut schedule = schedule(&["2026-12-07T09:00:00Z", "2026-12-07T10:00:00Z"]);
    assert!(schedule.delete("appt-1"));
    assert_eq!(schedule.record("appt-1", now()), Lookup::Deleted);
    assert_eq!(schedule.record("appt-3", now()), Lookup::Unknown);
    assert_eq!(schedule.record("pat-1", now()), Lookup::Unknown);
    assert!(!schedule.delete("appt-1"), "deleting twice finds nothing");
    assert!(!schedule.reschedule("appt-1", now()));
    assert_eq!(
        ids(&schedule.page(&query(0, 10), now()).unwrap()),
        ["appt-2"]
    );
}

#[test]
fn offset_pages_of_a_consistent_listing_come_from_one_snapshot_despite_a_deletion() {
    let starts: Vec<String> = (0..6).map(|h| format!("2026-12-07T0{h}:00:00Z")).collect();
    let mut schedule = schedule(&starts.iter().map(String::as_str).collect::<Vec<_>>());
    let first = schedule.page(&query(0, 2), now()).unwrap();
    assert_eq!(ids(&first), ["appt-1", "appt-2"]);
    schedule.delete("appt-1");
    schedule.set_status("appt-3", "cancelled");
    let second = schedule.page(&query(2, 2), now()).unwrap();
    assert_eq!(ids(&second), ["appt-3", "appt-4"], "nothing shifted");
    assert_eq!(second.items[0]["status"], "booked", "as of the snapshot");
    assert_eq!(second.total, 6);
    let next_listing = schedule.page(&query(0, 2), now()).unwrap();
    assert_eq!(ids(&next_listing), ["appt-2", "appt-3"]);
    assert_eq!(next_listing.items[1]["status"], "cancelled");
    assert_eq!(next_listing.total, 5);
}

#[test]
fn offset_pages_of_an_inconsistent_listing_skip_after_a_deletion_and_repeat_after_an_insert() {
    let starts: Vec<String> = (0..6).map(|h| format!("2026-12-07T0{h}:00:00Z")).collect();
    let mut schedule = schedule(&starts.iter().map(String::as_str).collect::<Vec<_>>());
    schedule.set_consistent(false);
    assert_eq!(
        ids(&schedule.page(&query(0, 2), now()).unwrap()),
        ["appt-1", "appt-2"]
    );
    schedule.delete("appt-1");
    let skipped = schedule.page(&query(2, 2), now()).unwrap();
    assert_eq!(ids(&skipped), ["appt-4", "appt-5"], "appt-3 is skipped");
    assert_eq!(skipped.total, 5);
    schedule.add(at("2026-12-06T00:00:00Z"), 30);
    let repeated = schedule.page(&query(4, 2), now()).unwrap();
    assert_eq!(
        ids(&repeated),
        ["appt-5", "appt-6"],
        "appt-5 is listed twice"
    );
    assert_eq!(repeated.next, None);
}

#[test]
fn link_pages_pin_their_snapshot_and_list_each_record_once() {
    let mut schedule = Schedule::new(5, 3);
    schedule.generate(25, now(), now() + TimeDelta::days(1));
    let all = list_all(&mut schedule, 4);
    assert_eq!(all.len(), 25);
    let mut unique = all.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 25);
    let first = schedule.page(&query(0, 10), now()).unwrap();
    let Some(Next::Pinned { version, offset }) = first.next else {
        panic!("a consistent listing pins its next page: {:?}", first.next);
    };
    assert_eq!(offset, 10);
    schedule.delete(&ids(&first)[0]);
    schedule.add(now(), 30);
    let pinned = PageQuery {
        version: Some(version),
        ..query(offset, 10)
    };
    assert_eq!(schedule.page(&pinned, now()).unwrap().total, 25);
}

#[test]
fn a_cursor_expires_once_newer_listings_replaced_its_snapshot() {
    let mut schedule = schedule(&["2026-12-07T09:00:00Z", "2026-12-07T10:00:00Z"]);
    let first = schedule.page(&query(0, 1), now()).unwrap();
    let Some(Next::Pinned { version, offset }) = first.next else {
        panic!("pinned");
    };
    for _ in 0..SNAPSHOTS_KEPT {
        schedule.page(&query(0, 1), now()).unwrap();
    }
    let expired = PageQuery {
        version: Some(version),
        ..query(offset, 1)
    };
    assert!(schedule.page(&expired, now()).is_err());
    assert!(schedule.page(&query(0, 0), now()).is_err(), "limit 0");
}

#[test]
fn generation_spreads_starts_over_the_window_on_a_five_minute_grid() {
    let mut schedule = Schedule::new(10, 7);
    let (from, to) = (now() - TimeDelta::days(1), now() + TimeDelta::days(14));
    schedule.generate(2_000, from, to);
    assert_eq!(schedule.len(), 2_000);
    let window = PageQuery {
        from: Some(from.timestamp()),
        to: Some(to.timestamp()),
        ..query(0, 10_000)
    };
    let page = schedule.page(&window, now()).unwrap();
    assert_eq!(page.total, 2_000, "every start is inside the window");
    let starts: Vec<i64> = page
        .items
        .iter()
        .map(|item| parse_time(item["start"].as_str().unwrap()).unwrap())
        .collect();
    assert!(starts.iter().all(|start| start % GRID_SECS == 0));
    assert!(starts.windows(2).all(|pair| pair[0] <= pair[1]));
    assert!(starts[0] < (now() - TimeDelta::hours(12)).timestamp());
    assert!(starts[1_999] > (now() + TimeDelta::days(13)).timestamp());
}

#[test]
fn one_percent_changes_about_one_record_in_a_hundred() {
    let mut schedule = Schedule::new(10, 7);
    schedule.generate(10_000, now(), now() + TimeDelta::days(14));
    let before = list_all(&mut schedule, 10_000);
    let before_page = schedule.page(&query(0, 10_000), now()).unwrap();
    let changed = schedule.change_percent(1.0);
    assert!((90..=100).contains(&changed), "{changed}");
    let after_page = schedule.page(&query(0, 10_000), now()).unwrap();
    let fingerprint = |page: &Page| {
        let mut rows: Vec<String> = page
            .items
            .iter()
            .map(|i| format!("{}{}{}", i["id"], i["status"], i["start"]))
            .collect();
        rows.sort();
        rows
    };
    let (old, new) = (fingerprint(&before_page), fingerprint(&after_page));
    let new: std::collections::HashSet<String> = new.into_iter().collect();
    let differing = old.iter().filter(|row| !new.contains(*row)).count();
    assert_eq!(differing, changed);
    assert_eq!(before.len(), 10_000);
}

#[test]
fn shifting_the_data_clock_moves_records_out_of_a_window() {
    let mut schedule = schedule(&["2026-12-06T18:00:00Z", "2026-12-10T09:00:00Z"]);
    let window = PageQuery {
        from: Some((now() - TimeDelta::days(1)).timestamp()),
        to: Some((now() + TimeDelta::days(14)).timestamp()),
        ..query(0, 10)
    };
    schedule.shift(TimeDelta::days(-2));
    assert_eq!(ids(&schedule.page(&window, now()).unwrap()), ["appt-2"]);
    let Lookup::Found(moved) = schedule.record("appt-1", now()) else {
        panic!("still exists");
    };
    assert_eq!(moved["start"], "2026-12-04T18:00:00Z");
}

#[test]
fn random_changes_make_every_kind_over_time() {
    let mut schedule = Schedule::new(5, 11);
    schedule.generate(20, now(), now() + TimeDelta::days(7));
    let mut kinds: Vec<&str> = (0..200).map(|_| schedule.change_random(now())).collect();
    kinds.sort_unstable();
    kinds.dedup();
    assert_eq!(kinds, ["cancelled", "created", "deleted", "rescheduled"]);
}
