//! Enriching a FHIR container: the focus resource under its type name, and each resource its
//! `enrich` reference paths lead to under its own (an array when one container has several
//! of one type), each fetched once, or taken from the search's `_include` results.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::config::{ConnectionConfig, ReferencePath};
use crate::ehr::enrich::Enriched;
use crate::ehr::{EhrClient, EhrError};
use crate::model::{Container, FhirContext};

/// Builds `data.resources` for a FHIR container. A reference whose target is gone (404/410),
/// malformed, or on another server (Courier only holds credentials for its own) is listed in
/// `missing` by its reference text; any other failure is returned, to be retried.
pub async fn enrich(
    client: &EhrClient,
    config: &ConnectionConfig,
    container: &Container,
    fhir: &FhirContext,
) -> Result<Enriched, EhrError> {
    let mut enriched = Enriched::default();
    let focus_type = fhir.focus.split('/').next().unwrap_or_default();
    if container.change.is_null() {
        return Ok(enriched);
    }
    add(
        &mut enriched.resources,
        focus_type,
        container.change.clone(),
    );
    let paths = (config.source.fhir())
        .into_iter()
        .flat_map(|f| &f.resources)
        .filter(|r| r.type_name == focus_type)
        .flat_map(|r| &r.enrich);
    let base = config.base_url.as_str().trim_end_matches('/');
    let mut done = BTreeSet::new();
    for path in paths {
        for reference in references(&container.change, path) {
            if reference.starts_with('#') || !targets(reference, path) {
                // A contained resource is in the focus already; another type is not asked for.
                continue;
            }
            let Some((kind, relative)) = resolve(reference, base, path) else {
                enriched.missing.push(reference.to_owned());
                continue;
            };
            if !done.insert(relative.clone()) {
                continue;
            }
            match fetch(client, &relative, &kind, &fhir.included).await? {
                Some(resource) => add(&mut enriched.resources, &kind, resource),
                None => enriched.missing.push(reference.to_owned()),
            }
        }
    }
    Ok(enriched)
}

/// The reference texts at the end of `path` in `resource` (arrays walked through).
fn references<'v>(resource: &'v Value, path: &ReferencePath) -> Vec<&'v str> {
    let mut found = Vec::new();
    walk(resource, &path.elements, &mut found);
    found
}

fn walk<'v>(value: &'v Value, elements: &[String], out: &mut Vec<&'v str>) {
    match (value, elements.split_first()) {
        (Value::Array(items), _) => items.iter().for_each(|v| walk(v, elements, out)),
        (_, None) => out.extend(value["reference"].as_str()),
        (Value::Object(map), Some((first, rest))) => {
            if let Some(child) = map.get(first) {
                walk(child, rest, out);
            }
        }
        _ => {}
    }
}

/// Whether `reference` points at the path's target type (any type without one).
fn targets(reference: &str, path: &ReferencePath) -> bool {
    let Some(target) = &path.target else {
        return true;
    };
    let parts: Vec<&str> = reference.split('/').collect();
    let kind = match parts.iter().position(|p| *p == "_history") {
        Some(at) if at >= 2 => parts[at - 2],
        _ => parts[parts.len().saturating_sub(2)],
    };
    kind == target
}

/// `(type, "/Type/id")` for a reference to a resource of the path's target type on this
/// server; `None` for another type (skipped silently when a target type is set), another
/// server, a contained resource or a malformed reference.
fn resolve(reference: &str, base: &str, path: &ReferencePath) -> Option<(String, String)> {
    let relative = match reference.strip_prefix(base) {
        Some(rest) => rest.trim_start_matches('/'),
        None if reference.contains("://") => return None,
        None => reference,
    };
    let parts: Vec<&str> = relative.split('/').collect();
    let valid_id = crate::fhir::is_fhir_id;
    let ok = match parts.as_slice() {
        [kind, id] => crate::config::is_fhir_type(kind) && valid_id(id),
        [kind, id, "_history", v] => {
            crate::config::is_fhir_type(kind) && valid_id(id) && valid_id(v)
        }
        _ => false,
    };
    let kind = parts[0].to_owned();
    if !ok || path.target.as_ref().is_some_and(|t| *t != kind) {
        return None;
    }
    Some((kind, format!("/{relative}")))
}

/// The resource at `relative`, from the included ones when the search returned it.
async fn fetch(
    client: &EhrClient,
    relative: &str,
    kind: &str,
    included: &[Value],
) -> Result<Option<Value>, EhrError> {
    let id = relative.split('/').nth(2).unwrap_or_default();
    let is_plain = relative.split('/').count() == 3;
    if let Some(hit) = included
        .iter()
        .find(|r| is_plain && r["resourceType"] == kind && r["id"] == id)
    {
        return Ok(Some(hit.clone()));
    }
    match client.get_json(relative, &[]).await {
        Ok(response) if response.body["resourceType"] == kind => Ok(Some(response.body)),
        Ok(_) => Err(EhrError::Shape {
            path: relative.to_owned(),
            reason: format!("expected a {kind} resource"),
        }),
        Err(err) if err.is_not_found() => Ok(None),
        Err(err) => Err(err),
    }
}

/// Puts a resource under its type: the first one as an object, more as an array.
fn add(resources: &mut Map<String, Value>, kind: &str, resource: Value) {
    match resources.get_mut(kind) {
        None => {
            resources.insert(kind.to_owned(), resource);
        }
        Some(Value::Array(list)) => list.push(resource),
        Some(first) => {
            let first = first.take();
            resources.insert(kind.to_owned(), Value::Array(vec![first, resource]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn references_are_found_through_arrays_and_filtered_by_target() {
        let appointment = json!({"participant": [
            {"actor": {"reference": "Patient/p1"}},
            {"actor": {"reference": "https://x/fhir/Location/l1"}},
            {"actor": {"reference": "Practitioner/d1"}}
        ]});
        let patient = ReferencePath::parse("participant.actor:Patient").unwrap();
        let found = references(&appointment, &patient);
        assert_eq!(found.len(), 3);
        let kept: Vec<_> = found
            .iter()
            .filter(|r| targets(r, &patient))
            .filter_map(|r| resolve(r, "https://x/fhir", &patient))
            .collect();
        assert_eq!(kept, [("Patient".to_owned(), "/Patient/p1".to_owned())]);
        let location = ReferencePath::parse("participant.actor:Location").unwrap();
        assert_eq!(
            resolve("https://x/fhir/Location/l1", "https://x/fhir", &location),
            Some(("Location".into(), "/Location/l1".into()))
        );
        assert_eq!(
            resolve("https://other/Location/l1", "https://x/fhir", &location),
            None
        );
        assert_eq!(
            resolve("Location/../admin", "https://x/fhir", &location),
            None
        );
    }

    #[test]
    fn several_resources_of_one_type_become_an_array() {
        let mut resources = Map::new();
        add(&mut resources, "Patient", json!({"id": "p1"}));
        assert_eq!(resources["Patient"]["id"], "p1");
        add(&mut resources, "Patient", json!({"id": "p2"}));
        assert_eq!(resources["Patient"], json!([{"id": "p1"}, {"id": "p2"}]));
    }
}
