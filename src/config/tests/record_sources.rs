//! The sources that compare listings or consume a feed once: the worked examples in
//! `config/` are accepted as documented, and each key's mistake is named.

use super::{errors, parse_ok};
use crate::config::{FhirMode, Initial, Paging, Source};

/// `config/snapshot.toml` from a given key on: the destination and the connection's
/// required keys, with `rest` appended.
fn snapshot_with(rest: &str) -> String {
    format!(
        "[store]\npath = \"var/courier\"\n\n[destinations.app]\nurl = \"https://r.example.org/\"\n\
         secret_env = \"COURIER_APP_SECRET\"\n\n[connections.c]\ndestination = \"app\"\n\
         source = \"snapshot\"\nbase_url = \"https://ehr.example.org/api\"\n\
         list_path = \"/schedule\"\nkey_pointer = \"/id\"\nevent_prefix = \"appointment\"\n{rest}"
    )
}

#[test]
fn the_snapshot_example_is_accepted_as_documented() {
    let config = parse_ok(include_str!("../../../config/snapshot.toml"));
    let Source::Snapshot(snapshot) = &config.connections.values().next().unwrap().source else {
        panic!("not a snapshot source");
    };
    assert_eq!(snapshot.window.start.to_string(), "today-1d");
    assert_eq!(snapshot.window.end.to_string(), "today+15d");
    assert_eq!(snapshot.compare.len(), 5);
    assert_eq!(
        snapshot.paging,
        Paging::Offset {
            offset_param: "offset".into(),
            size_param: "limit".into(),
            size: 500
        }
    );
    assert_eq!(snapshot.initial, Initial::Baseline);
    assert!(snapshot.confirm_path.is_some());
    assert_eq!(snapshot.enrich.len(), 1);
}

#[test]
fn the_fhir_window_example_is_accepted_as_documented() {
    let config = parse_ok(include_str!("../../../config/fhir-window.toml"));
    let fhir = config
        .connections
        .values()
        .next()
        .unwrap()
        .source
        .fhir()
        .expect("a FHIR source");
    let FhirMode::Snapshot(window) = &fhir.resources[0].mode else {
        panic!("not a window search");
    };
    assert_eq!(
        window.query.as_str(),
        "date=ge{today-1d}&date=lt{today+15d}"
    );
    assert_eq!(window.date_pointer, "/start");
}

#[test]
fn the_consume_once_example_is_accepted_as_documented() {
    let config = parse_ok(include_str!("../../../config/consume-once.toml"));
    let Source::ConsumeOnce(feed) = &config.connections.values().next().unwrap().source else {
        panic!("not a consume-once feed");
    };
    let recovery = feed.recovery.as_ref().expect("a re-read window");
    assert_eq!(recovery.start_param, "showprocessedstartdatetime");
    assert_eq!(recovery.margin.as_secs(), 300);
    assert_eq!(
        recovery.params,
        [("leaveunprocessed".into(), "true".into())]
    );
}

#[test]
fn a_snapshot_needs_its_window_in_order() {
    let text = snapshot_with("window_start = \"now+1d\"\n");
    assert!(
        errors(&text).contains("connections.c.window_end: missing required key"),
        "{}",
        errors(&text)
    );
    let text = snapshot_with("window_start = \"now+1d\"\nwindow_end = \"now\"\n");
    assert!(
        errors(&text).contains("window_end: must be after window_start (now+1d)"),
        "{}",
        errors(&text)
    );
    let text = snapshot_with("window_start = \"yesterday\"\nwindow_end = \"now\"\n");
    assert!(errors(&text).contains("window_start: \"yesterday\" is not a time expression"));
}

#[test]
fn a_snapshot_query_with_a_bad_expression_is_refused() {
    let text = snapshot_with(
        "window_start = \"now-1d\"\nwindow_end = \"now\"\nlist_query = \"from={now-1w}\"\n",
    );
    assert!(errors(&text).contains("list_query: \"now-1w\": the unit must be s, m, h or d"));
}

#[test]
fn a_snapshot_is_paged_one_way_and_keeps_no_other_sources_keys() {
    let window = "window_start = \"now-1d\"\nwindow_end = \"now\"\n";
    let both = snapshot_with(&format!(
        "{window}next_pointer = \"/next\"\noffset_param = \"o\"\n"
    ));
    assert!(errors(&both).contains("choose one way to page"));
    let alone = snapshot_with(&format!("{window}offset_param = \"o\"\n"));
    assert!(errors(&alone).contains("offset_param requires page_size_param"));
    let cursor = snapshot_with(&format!("{window}cursor_pointer = \"/seq\"\n"));
    assert!(errors(&cursor).contains("cursor_pointer: does not apply with source = \"snapshot\""));
}

#[test]
fn a_confirm_path_can_only_use_the_records_key() {
    let window = "window_start = \"now-1d\"\nwindow_end = \"now\"\n";
    let text = snapshot_with(&format!("{window}confirm_path = \"/a/{{/patientId}}\"\n"));
    assert!(
        errors(&text).contains("its only placeholder is {/key}"),
        "{}",
        errors(&text)
    );
}

#[test]
fn a_confirm_path_is_a_path_under_base_url() {
    let window = "window_start = \"now-1d\"\nwindow_end = \"now\"\n";
    let text = snapshot_with(&format!("{window}confirm_path = \"a/{{/key}}\"\n"));
    assert!(
        errors(&text).contains("confirm_path: must start with \"/\""),
        "{}",
        errors(&text)
    );
}

#[test]
fn a_snapshot_date_format_that_chrono_cannot_write_is_refused_at_load() {
    let text = include_str!("../../../config/snapshot.toml").replace("%Y-%m-%d", "%Q");
    assert!(
        errors(&text).contains("date_format: \"%Q\" is not a chrono strftime format"),
        "{}",
        errors(&text)
    );
}

#[test]
fn an_unknown_initial_is_refused_with_the_choices() {
    let text = snapshot_with(
        "window_start = \"now-1d\"\nwindow_end = \"now\"\ninitial = \"everything\"\n",
    );
    assert!(errors(&text).contains("initial: must be \"baseline\" or \"notify\""));
}

#[test]
fn window_keys_of_a_fhir_type_need_snapshot_mode() {
    let text =
        include_str!("../../../config/fhir-window.toml").replace("mode = \"snapshot\"\n", "");
    assert!(errors(&text).contains("window_start: only applies with mode = \"snapshot\""));
    let text = include_str!("../../../config/fhir-window.toml")
        .replace("mode = \"snapshot\"", "mode = \"diff\"");
    assert!(errors(&text).contains("mode: must be \"last-updated\" or \"snapshot\""));
}

#[test]
fn a_consume_once_recovery_with_a_bad_time_format_is_refused() {
    let text = include_str!("../../../config/consume-once.toml").replace("%m/%d/%Y %H:%M:%S", "%Q");
    assert!(errors(&text).contains("time_format: \"%Q\" is not a chrono strftime format"));
}

#[test]
fn a_changes_feed_notifies_its_backlog_unless_told_to_take_a_baseline() {
    let feed = |text: &str| match &parse_ok(text).connections["clinic-a"].source {
        Source::Changes(feed) => feed.initial,
        _ => unreachable!("VALID is a changes feed"),
    };
    assert_eq!(feed(super::VALID), Initial::Notify);
    let baseline = super::valid_with(
        "event_type = \"appointment.updated\"\n",
        "event_type = \"appointment.updated\"\ninitial = \"baseline\"\n",
    );
    assert_eq!(feed(&baseline), Initial::Baseline);
}

#[test]
fn a_listing_key_on_a_changes_feed_is_refused_by_name() {
    let text = super::valid_with(
        "event_type = \"appointment.updated\"\n",
        "event_type = \"appointment.updated\"\nwindow_start = \"now\"\n",
    );
    assert!(
        errors(&text).contains(
            "connections.clinic-a.window_start: only applies with source = \"snapshot\", not \"changes\""
        ),
        "{}",
        errors(&text)
    );
}
