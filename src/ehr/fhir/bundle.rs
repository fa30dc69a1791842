//! Reading a FHIR answer: a searchset or history Bundle is accepted, anything else (an
//! `OperationOutcome`, another Bundle type, a version without `meta.lastUpdated`) is an error
//! for the connection, never an empty result.

use chrono::{DateTime, FixedOffset};
use serde_json::Value;

use crate::ehr::EhrError;
use crate::fhir::is_fhir_id;

/// Which kind of Bundle a request expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BundleKind {
    /// A search: `type = "searchset"`.
    Searchset,
    /// A history read: `type = "history"`.
    History,
}

impl BundleKind {
    fn name(self) -> &'static str {
        match self {
            BundleKind::Searchset => "searchset",
            BundleKind::History => "history",
        }
    }
}

/// One resource version found by a search, with what paging and deduplication need.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// The resource id.
    pub id: String,
    /// `meta.versionId`, opaque; `meta.lastUpdated` when the server keeps no version ids.
    pub version: String,
    /// `meta.lastUpdated`, parsed, to order and bound.
    pub at: DateTime<FixedOffset>,
    /// `meta.lastUpdated` as the server wrote it, to send back as a cursor.
    pub at_text: String,
    /// The resource.
    pub resource: Value,
}

/// A deletion read from a history Bundle.
#[derive(Debug, Clone, PartialEq)]
pub struct Deletion {
    /// The id of the deleted resource.
    pub id: String,
    /// The deletion's own version (from `response.etag`), else its time.
    pub version: String,
    /// `response.lastModified`, parsed.
    pub at: DateTime<FixedOffset>,
}

/// A parsed Bundle: its matches (or history entries), included resources and `next` link.
#[derive(Debug, Default)]
pub struct Page {
    /// The entries that are the search's matches, in the server's order (for history: every
    /// entry, as `request.method` + resource).
    pub entries: Vec<Value>,
    /// Resources with `search.mode = "include"`.
    pub included: Vec<Value>,
    /// The `next` link's URL.
    pub next: Option<String>,
}

/// Checks that `body` is a Bundle of `kind` and splits its entries, moving them out (a page
/// is a thousand resources: copying them was a tenth of a FHIR connection's CPU). `path`
/// names the request in errors. An `OperationOutcome` entry of severity error or fatal fails
/// the page too.
pub fn parse(path: &str, mut body: Value, kind: BundleKind) -> Result<Page, EhrError> {
    let shape = |reason: String| EhrError::Shape {
        path: path.to_owned(),
        reason,
    };
    match body["resourceType"].as_str() {
        Some("Bundle") => {}
        Some("OperationOutcome") => return Err(shape(outcome_summary(&body))),
        _ => return Err(shape("expected a FHIR Bundle".to_owned())),
    }
    if body["type"].as_str() != Some(kind.name()) {
        let got = body["type"].as_str().unwrap_or("no type");
        return Err(shape(format!(
            "expected a Bundle of type {}, got {got}",
            kind.name()
        )));
    }
    let mut page = Page {
        next: next_link(&body),
        ..Page::default()
    };
    let Value::Array(entries) = body["entry"].take() else {
        return Ok(page);
    };
    for mut entry in entries {
        match entry["search"]["mode"].as_str() {
            Some("include") => page.included.push(entry["resource"].take()),
            Some("outcome") => {
                if is_failure(&entry["resource"]) {
                    return Err(shape(outcome_summary(&entry["resource"])));
                }
            }
            _ => page.entries.push(entry),
        }
    }
    Ok(page)
}

/// The version a search entry holds, moved out of it; `type_name` is what the search asked
/// for.
pub fn found(path: &str, mut entry: Value, type_name: &str) -> Result<Found, EhrError> {
    // Not `entry["resource"]`: indexing to write panics on an entry that is not an object.
    let resource = entry
        .get_mut("resource")
        .map(Value::take)
        .unwrap_or_default();
    let shape = |reason: &str| EhrError::Shape {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    if resource["resourceType"].as_str() != Some(type_name) {
        return Err(shape("a match is not of the searched resource type"));
    }
    let id = resource["id"]
        .as_str()
        .ok_or_else(|| shape("a match has no id"))?;
    if !is_fhir_id(id) {
        // `Type/id` is the notification's focus and a store key: an id that is not one path
        // segment (`/x`, `a#b`, `a?b`, empty) would name another resource, or none.
        return Err(shape(
            "a match's id is not a FHIR id (1 to 64 of A-Z a-z 0-9 - .)",
        ));
    }
    let at_text = resource["meta"]["lastUpdated"]
        .as_str()
        .ok_or_else(|| shape("a match has no meta.lastUpdated, which paging needs"))?;
    let at = DateTime::parse_from_rfc3339(at_text)
        .map_err(|_| shape("a match has a meta.lastUpdated that is not an instant"))?;
    let version = resource["meta"]["versionId"]
        .as_str()
        .filter(|v| !v.is_empty())
        .unwrap_or(at_text);
    let (id, version, at_text) = (id.to_owned(), version.to_owned(), at_text.to_owned());
    Ok(Found {
        id,
        version,
        at,
        at_text,
        resource,
    })
}

/// The deletion a history entry records, if it is one.
pub fn deletion(path: &str, entry: &Value, type_name: &str) -> Result<Option<Deletion>, EhrError> {
    if entry["request"]["method"].as_str() != Some("DELETE") {
        return Ok(None);
    }
    let shape = |reason: &str| EhrError::Shape {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    let url = entry["request"]["url"]
        .as_str()
        .or(entry["fullUrl"].as_str())
        .ok_or_else(|| shape("a DELETE entry names no resource"))?;
    let id = reference_id(url, type_name)
        .ok_or_else(|| shape("a DELETE entry's url is not of the read resource type"))?;
    let at = entry["response"]["lastModified"]
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .ok_or_else(|| shape("a DELETE entry has no valid response.lastModified"))?;
    // An empty etag (`""`, `W/""`) names no version: two such deletions would look alike.
    let etag = entry["response"]["etag"]
        .as_str()
        .map(|etag| etag.trim_start_matches("W/").trim_matches('"'))
        .filter(|etag| !etag.is_empty());
    let version = match etag {
        Some(etag) => etag.to_owned(),
        None => format!("deleted@{}", at.to_rfc3339()),
    };
    Ok(Some(Deletion { id, version, at }))
}

/// When a history entry was written: its resource's `meta.lastUpdated` (history is ordered
/// by it), else `response.lastModified` (a DELETE entry has no resource).
pub fn history_instant(entry: &Value) -> Option<DateTime<FixedOffset>> {
    let resource = entry["resource"]["meta"]["lastUpdated"].as_str();
    let response = entry["response"]["lastModified"].as_str();
    DateTime::parse_from_rfc3339(resource.or(response)?).ok()
}

/// The id in `Type/id`, `…/Type/id` or `…/Type/id/_history/v`, when the type is `type_name`.
pub fn reference_id(url: &str, type_name: &str) -> Option<String> {
    let url = url.split(['?', '#']).next().unwrap_or(url);
    let mut parts: Vec<&str> = url.trim_end_matches('/').split('/').collect();
    if parts.len() >= 4 && parts[parts.len() - 2] == "_history" {
        parts.truncate(parts.len() - 2);
    }
    match parts.as_slice() {
        [.., kind, id] if *kind == type_name && !id.is_empty() => Some((*id).to_owned()),
        _ => None,
    }
}

fn next_link(body: &Value) -> Option<String> {
    body["link"]
        .as_array()?
        .iter()
        .find(|link| link["relation"] == "next")
        .and_then(|link| link["url"].as_str())
        .map(str::to_owned)
}

fn is_failure(outcome: &Value) -> bool {
    outcome["issue"].as_array().is_some_and(|issues| {
        issues
            .iter()
            .any(|i| matches!(i["severity"].as_str(), Some("error" | "fatal")))
    })
}

/// Severity and code of each issue, never the diagnostics (which may quote a parameter or a
/// resource).
fn outcome_summary(outcome: &Value) -> String {
    let issues: Vec<String> = outcome["issue"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|i| {
            format!(
                "{} {}",
                i["severity"].as_str().unwrap_or("?"),
                i["code"].as_str().unwrap_or("?")
            )
        })
        .collect();
    format!(
        "the server answered an OperationOutcome ({})",
        issues.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_operation_outcome_is_an_error_not_an_empty_page() {
        let body = json!({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "too-costly", "diagnostics": "Patient Smith"}]});
        let err = parse("/Appointment", body, BundleKind::Searchset).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("error too-costly"), "{text}");
        assert!(!text.contains("Smith"), "diagnostics stay out: {text}");
    }

    #[test]
    fn a_bundle_of_another_type_is_an_error() {
        let body = json!({"resourceType": "Bundle", "type": "batch-response", "entry": []});
        let err = parse("/Appointment", body, BundleKind::Searchset).unwrap_err();
        assert!(err
            .to_string()
            .contains("expected a Bundle of type searchset, got batch-response"));
    }

    #[test]
    fn includes_outcomes_and_matches_are_told_apart() {
        let body = json!({"resourceType": "Bundle", "type": "searchset",
        "link": [{"relation": "next", "url": "http://x/Appointment?_offset=2"}],
        "entry": [
            {"resource": {"resourceType": "Appointment", "id": "a"}, "search": {"mode": "match"}},
            {"resource": {"resourceType": "Patient", "id": "p"}, "search": {"mode": "include"}},
            {"resource": {"resourceType": "OperationOutcome", "issue": [{"severity": "warning", "code": "not-supported"}]}, "search": {"mode": "outcome"}}
        ]});
        let page = parse("/Appointment", body, BundleKind::Searchset).unwrap();
        assert_eq!(page.entries.len(), 1);
        assert_eq!(page.included[0]["id"], "p");
        assert_eq!(page.next.as_deref(), Some("http://x/Appointment?_offset=2"));
    }

    #[test]
    fn references_name_their_id_in_every_form() {
        for url in [
            "Patient/p1",
            "https://x/fhir/Patient/p1",
            "Patient/p1/_history/3",
        ] {
            assert_eq!(reference_id(url, "Patient").as_deref(), Some("p1"), "{url}");
        }
        assert_eq!(reference_id("Location/l1", "Patient"), None);
    }

    #[test]
    fn a_delete_entry_gives_id_and_version_from_its_etag() {
        let entry = json!({"fullUrl": "http://x/fhir/Appointment/a2", "request": {"method": "DELETE", "url": "Appointment/a2"},
            "response": {"etag": "W/\"3\"", "lastModified": "2026-11-26T04:14:11.323Z"}});
        let d = deletion("/h", &entry, "Appointment").unwrap().unwrap();
        assert_eq!((d.id.as_str(), d.version.as_str()), ("a2", "3"));
    }

    /// Entries that are not objects are refused like any other malformed match (moving the
    /// resource out of an entry must not index into a number or a string).
    #[test]
    fn an_entry_that_is_not_an_object_is_a_shape_error() {
        for entry in [json!(1), json!("x"), json!([]), json!(true), json!(null)] {
            let err = found("/Patient", entry.clone(), "Patient").unwrap_err();
            assert!(
                err.to_string().contains("not of the searched"),
                "{entry}: {err}"
            );
        }
        let body = json!({"resourceType": "Bundle", "type": "searchset", "entry": [1, "x"]});
        let page = parse("/Patient", body, BundleKind::Searchset).unwrap();
        assert_eq!(page.entries.len(), 2, "left for `found` to refuse");
    }

    /// Found by the `fhir_bundle` fuzz target (`fuzz/corpus/fhir_bundle/seed-id-*`): a match
    /// whose id was not one path segment was taken, so its focus `Patient//example` named no
    /// resource and `Patient/e#amdivple` named `Patient/e`.
    #[test]
    fn a_match_whose_id_is_not_a_fhir_id_is_refused() {
        for id in [
            "/example",
            "e#amdivple",
            "exampl?:",
            "",
            "a b",
            &"x".repeat(65),
        ] {
            let entry = json!({"resource": {"resourceType": "Patient", "id": id,
                "meta": {"lastUpdated": "2026-11-26T04:14:11.323Z"}}});
            let err = found("/Patient", entry, "Patient").unwrap_err();
            assert!(err.to_string().contains("not a FHIR id"), "{id:?}: {err}");
        }
        let entry = json!({"resource": {"resourceType": "Patient", "id": "Ab-1.2",
            "meta": {"lastUpdated": "2026-11-26T04:14:11.323Z"}}});
        assert_eq!(found("/Patient", entry, "Patient").unwrap().id, "Ab-1.2");
    }

    /// Found by the `fhir_bundle` fuzz target (`fuzz/corpus/fhir_bundle/seed-deletion-empty-etag`):
    /// a DELETE entry with `etag: ""` gave a deletion with an empty version, which any other
    /// such deletion of the resource would have repeated. A match's empty `versionId` is the
    /// same case.
    #[test]
    fn an_empty_etag_or_version_id_falls_back_to_the_instant() {
        for etag in ["", "W/\"\"", "\"\""] {
            let entry = json!({"request": {"method": "DELETE", "url": "Appointment/a2/_history/3?x#y"},
                "response": {"etag": etag, "lastModified": "2026-11-26T04:14:11Z"}});
            let d = deletion("/h", &entry, "Appointment").unwrap().unwrap();
            assert_eq!(d.id, "a2");
            assert_eq!(d.version, "deleted@2026-11-26T04:14:11+00:00", "{etag:?}");
        }
        let entry = json!({"resource": {"resourceType": "Patient", "id": "p1",
            "meta": {"versionId": "", "lastUpdated": "2026-11-26T04:14:11.323Z"}}});
        let found = found("/Patient", entry, "Patient").unwrap();
        assert_eq!(found.version, "2026-11-26T04:14:11.323Z");
    }
}
