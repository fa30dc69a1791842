//! `source = "consume-once"`: its re-read window, and the warning a feed without one gets.

use std::time::Duration;

use super::{errors, parse_ok, valid_with};
use crate::config::Source;

/// `VALID`'s connection as a consume-once feed, with `recovery` lines (TOML) after it.
fn consume_once(recovery: &str) -> String {
    let text = valid_with("source = \"changes\"", "source = \"consume-once\"")
        .replace("cursor_pointer = \"/seq\"\n", "");
    let table = format!("event_type = \"appointment.updated\"\n{recovery}");
    text.replacen("event_type = \"appointment.updated\"\n", &table, 1)
}

const ATHENA: &str = "[connections.clinic-a.recovery]\n\
    start_param = \"showprocessedstartdatetime\"\n\
    end_param = \"showprocessedenddatetime\"\n\
    time_format = \"%m/%d/%Y %H:%M:%S\"\n\
    params = \"leaveunprocessed=true\"\n\
    offset_param = \"offset\"\n";

#[test]
fn a_recovery_window_loads_with_its_parameters() {
    let config = parse_ok(&consume_once(ATHENA));
    let Source::ConsumeOnce(feed) = &config.connections["clinic-a"].source else {
        panic!("a consume-once source")
    };
    let recovery = feed.recovery.as_ref().expect("a recovery window");
    assert_eq!(recovery.start_param, "showprocessedstartdatetime");
    assert_eq!(recovery.time_format, "%m/%d/%Y %H:%M:%S");
    assert_eq!(
        recovery.margin,
        Duration::from_secs(300),
        "the default margin"
    );
    assert_eq!(
        recovery.params,
        [("leaveunprocessed".into(), "true".into())]
    );
    assert_eq!(recovery.offset_param.as_deref(), Some("offset"));
    assert!(config.warnings().is_empty(), "{:?}", config.warnings());
}

#[test]
fn a_feed_without_a_recovery_window_is_accepted_with_a_warning_that_says_what_is_lost() {
    let config = parse_ok(&consume_once(""));
    let warnings = config.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("connections.clinic-a: "),
        "{}",
        warnings[0]
    );
    assert!(
        warnings[0]
            .contains("a crash or a lost response between a GET and its commit loses that page"),
        "{}",
        warnings[0]
    );
}

#[test]
fn an_empty_offset_param_is_refused() {
    let text = consume_once(&ATHENA.replace("offset_param = \"offset\"", "offset_param = \" \""));
    assert!(
        errors(&text).contains("recovery.offset_param: must not be empty"),
        "{}",
        errors(&text)
    );
}

#[test]
fn a_changes_feed_gets_no_warning() {
    assert!(parse_ok(super::VALID).warnings().is_empty());
}

#[test]
fn its_event_type_is_a_template_of_the_change_item_as_a_changes_feeds() {
    let text = consume_once(ATHENA).replace(
        "event_type = \"appointment.updated\"",
        "event_type = \"appointment.{/action}\"",
    );
    let config = parse_ok(&text);
    let Source::ConsumeOnce(feed) = &config.connections["clinic-a"].source else {
        panic!("a consume-once source")
    };
    let item = serde_json::json!({"id": "appt-3", "action": "rescheduled"});
    assert_eq!(
        feed.event_type.render_text(&item).unwrap(),
        "appointment.rescheduled"
    );
    let enriched = consume_once(ATHENA).replace(
        "event_type = \"appointment.updated\"",
        "event_type = \"appointment.{appointment/status}\"",
    );
    let found = errors(&enriched);
    assert!(
        found.contains(
            "connections.clinic-a.event_type: placeholder {appointment/status} names an \
             enrichment result"
        ),
        "{found}"
    );
}
