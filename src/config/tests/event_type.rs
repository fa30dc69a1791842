//! `event_type` of a changes feed: a name, or a template filled from each change item.

use serde_json::json;

use super::{errors, parse_ok, valid_with};

const LINE: &str = "event_type = \"appointment.updated\"";

fn with_event_type(text: &str) -> String {
    valid_with(LINE, &format!("event_type = \"{text}\""))
}

#[test]
fn a_template_of_change_item_pointers_is_filled_from_each_item() {
    let config = parse_ok(&with_event_type("appointment.{/action}"));
    let feed = config.connections["clinic-a"].source.changes().unwrap();
    assert_eq!(feed.event_type.as_str(), "appointment.{/action}");
    let item = json!({"id": "appt-3", "action": "cancelled"});
    assert_eq!(
        feed.event_type.render_text(&item).unwrap(),
        "appointment.cancelled"
    );
}

#[test]
fn a_plain_name_is_the_type_of_every_notification() {
    let config = parse_ok(&with_event_type("appointment.updated"));
    let feed = config.connections["clinic-a"].source.changes().unwrap();
    assert_eq!(
        feed.event_type.render_text(&json!({})).unwrap(),
        "appointment.updated"
    );
}

#[test]
fn an_enrichment_placeholder_a_bad_pointer_or_bad_syntax_is_refused_at_its_line() {
    let cases = [
        (
            "appointment.{appointment/status}",
            "placeholder {appointment/status} names an enrichment result, which is fetched \
             after the type is given (only {/pointer} into the change item)",
        ),
        (
            "appointment.{/a~2}",
            "placeholder {/a~2} is not a JSON pointer: ",
        ),
        (
            "appointment.{/action",
            "not a valid template: unclosed '{' at byte 12",
        ),
        ("  ", "must not be empty"),
    ];
    for (event_type, message) in cases {
        let found = errors(&with_event_type(event_type));
        let expected =
            format!("config/courier.toml:18: connections.clinic-a.event_type: {message}");
        assert!(found.starts_with(&expected), "{event_type}: {found}");
    }
}
