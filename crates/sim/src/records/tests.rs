//! The simulated chart without a server: the changes log's paging rules, the actions its
//! entries carry, and the synthetic people.

use super::*;

fn at(ts: &str) -> DateTime<Utc> {
    ts.parse().unwrap()
}

#[test]
fn touches_append_entries_with_consecutive_seq_and_bump_the_version() {
    let mut records = Records::generate(3, 5, 1);
    assert_eq!(records.change_count(), 0);
    assert_eq!(records.touch("appt-2", None), Some(1));
    assert_eq!(records.touch("appt-2", None), Some(2));
    assert_eq!(records.touch_random(None), 3);
    assert!(records.version("appt-2").unwrap() >= 3);
    let page = records.changed(None, 10);
    let seqs: Vec<u64> = page.iter().map(|i| i["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, [1, 2, 3]);
    assert_eq!(page[0]["id"], "appt-2");
    assert!(page[0]["patientId"].as_str().unwrap().starts_with("pat-"));
}

#[test]
fn unknown_ids_are_not_found() {
    let mut records = Records::generate(2, 2, 1);
    assert_eq!(records.touch("appt-3", None), None);
    assert_eq!(records.touch("appt-0", None), None);
    assert_eq!(records.touch("pat-1", None), None);
    assert!(records.appointment("appt-9").is_none());
    assert!(records.patient("pat-3").is_none());
    assert!(records.patient("pat-2").is_some());
}

#[test]
fn time_since_is_inclusive_so_ties_are_read_again() {
    let mut records = Records::generate(1, 3, 1);
    records.touch("appt-1", Some(at("2030-01-01T00:00:00Z")));
    records.touch("appt-2", Some(at("2030-01-01T00:00:01.5Z")));
    records.touch("appt-3", Some(at("2030-01-01T00:00:01.5Z")));
    let page = records.changed(Since::parse("2030-01-01T00:00:01.500Z"), 10);
    let ids: Vec<&str> = page.iter().map(|i| i["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["appt-2", "appt-3"]);
    assert_eq!(page[0]["ts"], "2030-01-01T00:00:01.500Z");
}

#[test]
fn seq_since_is_exclusive_and_limit_caps_the_page() {
    let mut records = Records::generate(1, 1, 1);
    for _ in 0..5 {
        records.touch_random(None);
    }
    let page = records.changed(Since::parse("2"), 2);
    let seqs: Vec<u64> = page.iter().map(|i| i["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, [3, 4]);
    let from_before = records.changed(Since::parse("-3"), 10);
    assert_eq!(
        from_before.len(),
        5,
        "a negative since reads from the start"
    );
    assert!(records.changed(Since::parse("5"), 10).is_empty());
    assert!(records.changed(Since::parse("99"), 10).is_empty());
}

#[test]
fn backlog_is_spread_one_second_apart_ending_now() {
    let mut records = Records::generate(2, 4, 1);
    records.backlog(3, at("2030-01-01T00:00:10Z"));
    let page = records.changed(None, 10);
    let ts: Vec<&str> = page.iter().map(|i| i["ts"].as_str().unwrap()).collect();
    assert_eq!(
        ts,
        [
            "2030-01-01T00:00:08.000Z",
            "2030-01-01T00:00:09.000Z",
            "2030-01-01T00:00:10.000Z"
        ]
    );
}

#[test]
fn automatic_timestamps_never_go_backwards() {
    let mut records = Records::generate(1, 1, 1);
    records.touch("appt-1", Some(at("2999-01-01T00:00:00Z")));
    records.touch("appt-1", None);
    let page = records.changed(None, 10);
    assert_eq!(page[1]["ts"], "2999-01-01T00:00:00.000Z");
}

#[test]
fn since_parses_integers_and_rfc3339_times_only() {
    assert_eq!(Since::parse("42"), Some(Since::Seq(42)));
    assert_eq!(
        Since::parse("2030-01-01T02:00:00+02:00"),
        Some(Since::Time(at("2030-01-01T00:00:00Z")))
    );
    assert_eq!(Since::parse("yesterday"), None);
}

#[test]
fn generated_people_are_obviously_synthetic_and_reproducible() {
    let a = Records::generate(4, 0, 7);
    let b = Records::generate(4, 0, 7);
    for n in 1..=4 {
        let id = format!("pat-{n}");
        let patient = a.patient(&id).unwrap();
        assert_eq!(patient, b.patient(&id).unwrap());
        let family = patient["name"][0]["family"].as_str().unwrap();
        assert!(FAMILY_NAMES.contains(&family));
    }
}

#[test]
fn each_entry_says_what_happened_and_the_record_shows_it() {
    let mut records = Records::generate(2, 3, 1);
    records.touch("appt-1", None);
    records.cancel("appt-1");
    records.touch("appt-1", None);
    records.reschedule("appt-1", TimeDelta::days(1));
    let added = records.add_appointment();
    let actions: Vec<String> = records
        .changed(None, 10)
        .iter()
        .map(|item| item["action"].as_str().unwrap().to_owned())
        .collect();
    let expected = ["updated", "cancelled", "updated", "rescheduled", "created"];
    assert_eq!(actions, expected);
    assert_eq!(records.version("appt-1"), Some(5));
    let appointment = records.appointment("appt-1").unwrap();
    assert_eq!(
        appointment["status"], "booked",
        "rescheduled books it again"
    );
    assert_eq!(appointment["start"], "2030-01-08T08:00:00Z", "a day later");
    assert_eq!(added, "appt-4");
    assert_eq!(records.cancel("appt-9"), None);
}

#[test]
fn a_touch_never_cancels_and_leaves_a_cancelled_appointment_cancelled() {
    let mut records = Records::generate(1, 1, 1);
    for _ in 0..7 {
        records.touch("appt-1", None);
        assert_ne!(
            records.appointment("appt-1").unwrap()["status"],
            "cancelled"
        );
    }
    records.cancel("appt-1");
    records.touch("appt-1", None);
    assert_eq!(
        records.appointment("appt-1").unwrap()["status"],
        "cancelled"
    );
}

#[test]
fn only_names_from_the_word_lists_count_as_synthetic() {
    assert!(is_synthetic_name("Alpha", "Testperson"));
    assert!(!is_synthetic_name("Ada", "Testperson"));
    assert!(!is_synthetic_name("Alpha", "Lovelace"));
    assert!(!is_synthetic_name("XMARKERAlpha", "Testperson"));
}
