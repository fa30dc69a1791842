//! Reading a changes-feed page: where the items are, and each item's key, version and
//! position, as configured by JSON pointers.

use serde_json::Value;

use super::EhrError;
use crate::config::ChangesSource;
use crate::model::{ChangeItem, CursorValue};
use crate::template::{scalar_text, Template};

/// The query of one feed request: the cursor, and the page size when the feed pages.
pub fn page_query<'a>(
    config: &'a ChangesSource,
    cursor: &'a CursorValue,
    page_size: Option<&'a str>,
) -> Vec<(&'a str, &'a str)> {
    let mut query = vec![(config.since_param.as_str(), cursor.as_str())];
    if let (Some(param), Some(size)) = (&config.page_size_param, page_size) {
        query.push((param.as_str(), size));
    }
    query
}

/// The change items of a page, in feed order.
///
/// Every item must carry a key and a position, and every value that a required enrichment
/// step needs from it: a page with one unusable item is refused whole, so the cursor cannot
/// move past that item and the problem shows in status instead of being skipped.
///
/// Without a `cursor_pointer` (a `date_header` cursor), every item is placed at `since`, the
/// position the page was read from.
pub fn parse_page(
    config: &ChangesSource,
    path: &str,
    body: &Value,
    since: &CursorValue,
) -> Result<Vec<ChangeItem>, EhrError> {
    let shape = |reason: String| EhrError::Shape {
        path: path.to_owned(),
        reason,
    };
    let items = body
        .pointer(&config.items_pointer)
        .and_then(Value::as_array)
        .ok_or_else(|| {
            shape(format!(
                "no array at items_pointer {:?}",
                config.items_pointer
            ))
        })?;
    items
        .iter()
        .enumerate()
        .map(|(index, raw)| {
            parse_item(config, raw, since)
                .map_err(|reason| shape(format!("item {index}: {reason}")))
        })
        .collect()
}

/// Refuses a full page whose positions go down: a feed that lists newest first cannot be
/// paged by cursor (the next page would start after the newest item and skip the older ones
/// that did not fit), so such a page is an error for the connection rather than a silent gap.
pub fn ensure_ascending(page: &[ChangeItem], path: &str) -> Result<(), EhrError> {
    let descending = page
        .windows(2)
        .position(|pair| pair[1].cursor.compare(&pair[0].cursor) == std::cmp::Ordering::Less);
    match descending {
        None => Ok(()),
        Some(at) => Err(EhrError::Shape {
            path: path.to_owned(),
            reason: format!(
                "item {} is before item {at} in a full page: the feed must list changes oldest \
                 first to be paged by cursor (raise page_size above the largest backlog, or use \
                 an ascending endpoint)",
                at + 1
            ),
        }),
    }
}

/// `event_type` filled from change item `raw` (of record `key`), or why it cannot be: a
/// changes feed's and a consume-once feed's alike.
pub(crate) fn event_type_of(
    event_type: &Template,
    key: &str,
    raw: &Value,
) -> Result<String, String> {
    event_type.render_text(raw).map_err(|problem| {
        format!(
            "key {key}: {problem}, needed by event_type {:?}",
            event_type.as_str()
        )
    })
}

fn parse_item(
    config: &ChangesSource,
    raw: &Value,
    since: &CursorValue,
) -> Result<ChangeItem, String> {
    let field = |pointer: &str, what: &str| {
        raw.pointer(pointer)
            .and_then(scalar_text)
            .ok_or_else(|| format!("no string or number at {what} {pointer:?}"))
    };
    let key = field(&config.key_pointer, "key_pointer")?;
    let cursor = match &config.cursor_pointer {
        Some(pointer) => CursorValue(field(pointer, "cursor_pointer")?),
        None => since.clone(),
    };
    let version = match &config.version_pointer {
        Some(pointer) => field(pointer, "version_pointer")?,
        None => cursor.0.clone(),
    };
    let event_type = event_type_of(&config.event_type, &key, raw)?;
    for step in config.enrich.iter().filter(|step| !step.optional) {
        if let Err(problem) = step.path.check_change(raw) {
            return Err(format!(
                "key {key}: {problem}, needed by enrich step {:?}",
                step.name
            ));
        }
    }
    Ok(ChangeItem {
        key,
        version,
        cursor,
        raw: raw.clone(),
        event_type,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ehr::fixtures::feed;
    use crate::template::Template;
    use serde_json::json;

    fn since() -> CursorValue {
        CursorValue::from("0")
    }

    #[test]
    fn reads_key_version_and_cursor_by_pointer() {
        let config = feed();
        let body = json!([{"seq": 3, "id": "appt-1", "patientId": "p", "ts": "v9"}]);
        let items = parse_page(&config, "/f", &body, &since()).unwrap();
        assert_eq!(items[0].key, "appt-1");
        assert_eq!(items[0].cursor.as_str(), "3");
        assert_eq!(items[0].version, "v9");
        assert_eq!(items[0].raw, body[0]);
    }

    #[test]
    fn each_item_gets_the_event_type_filled_from_it() {
        let mut config = feed();
        config.event_type = Template::parse("appointment.{/action}").unwrap();
        let body = json!([
            {"seq": 1, "id": "a", "patientId": "p", "ts": "t", "action": "cancelled"},
            {"seq": 2, "id": "a", "patientId": "p", "ts": "u", "action": "rescheduled"}
        ]);
        let items = parse_page(&config, "/f", &body, &since()).unwrap();
        let types: Vec<&str> = items.iter().map(|i| i.event_type.as_str()).collect();
        assert_eq!(types, ["appointment.cancelled", "appointment.rescheduled"]);
        assert_eq!(
            parse_page(&feed(), "/f", &body, &since()).unwrap()[0].event_type,
            "appointment.updated",
            "a plain name is every item's type"
        );
    }

    #[test]
    fn refuses_a_page_whose_item_lacks_what_the_event_type_needs() {
        let mut config = feed();
        config.event_type = Template::parse("appointment.{/action}").unwrap();
        let body = json!([{"seq": 1, "id": "a", "patientId": "p", "ts": "t"}]);
        let err = parse_page(&config, "/f", &body, &since()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the answer of /f has an unexpected shape: item 0: key a: no string or number at \
             {/action}, needed by event_type \"appointment.{/action}\""
        );
    }

    #[test]
    fn version_defaults_to_the_cursor_value() {
        let mut config = feed();
        config.version_pointer = None;
        let items = parse_page(
            &config,
            "/f",
            &json!([{"seq": 3, "id": "a", "patientId": "p"}]),
            &since(),
        )
        .unwrap();
        assert_eq!(items[0].version, "3");
    }

    #[test]
    fn finds_items_inside_an_object() {
        let mut config = feed();
        config.items_pointer = "/data/changes".into();
        let body =
            json!({"data": {"changes": [{"seq": 1, "id": "a", "patientId": "p", "ts": "t"}]}});
        assert_eq!(parse_page(&config, "/f", &body, &since()).unwrap().len(), 1);
    }

    #[test]
    fn refuses_a_page_with_an_item_missing_its_key() {
        let body = json!([{"seq": 1, "id": "a", "patientId": "p", "ts": "t"}, {"seq": 2, "patientId": "p", "ts": "t"}]);
        let err = parse_page(&feed(), "/f", &body, &since()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the answer of /f has an unexpected shape: item 1: no string or number at key_pointer \"/id\""
        );
    }

    #[test]
    fn refuses_a_page_whose_item_lacks_what_a_required_enrichment_needs() {
        let body = json!([{"seq": 1, "id": "a", "ts": "t"}]);
        let err = parse_page(&feed(), "/f", &body, &since()).unwrap_err();
        assert!(
            err.to_string()
                .contains("needed by enrich step \"patient\""),
            "{err}"
        );
    }

    /// Issue 12: ids `.` and `..` were stored, then delivered as if the EHR had answered 404
    /// (`missing: [appointment, patient]`).
    #[test]
    fn refuses_a_page_whose_item_has_a_dot_segment_id() {
        for (id, patient) in [("..", "p"), ("a", "."), (".", "p")] {
            let body = json!([{"seq": 1, "id": id, "patientId": patient, "ts": "t"}]);
            let err = parse_page(&feed(), "/f", &body, &since()).unwrap_err();
            assert!(
                err.to_string()
                    .contains("which would change the path, needed by enrich step"),
                "{id} {patient}: {err}"
            );
        }
    }

    #[test]
    fn a_full_page_listed_newest_first_is_refused() {
        let body = json!([
            {"seq": 2, "id": "b", "patientId": "p", "ts": "t"},
            {"seq": 1, "id": "a", "patientId": "p", "ts": "t"}
        ]);
        let page = parse_page(&feed(), "/f", &body, &since()).unwrap();
        let err = ensure_ascending(&page, "/f").unwrap_err();
        assert!(err.to_string().contains("oldest first"), "{err}");
        let mut ascending = page;
        ascending.reverse();
        assert_eq!(ensure_ascending(&ascending, "/f"), Ok(()));
    }

    #[test]
    fn refuses_a_body_that_is_not_an_array() {
        assert!(matches!(
            parse_page(&feed(), "/f", &json!({"error": "x"}), &since()),
            Err(EhrError::Shape { .. })
        ));
    }
}
