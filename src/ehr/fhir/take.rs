//! Deciding what a page's versions mean against the versions seen before: a version already
//! taken is dropped, a no-op update (same content as the last version seen) only moves the
//! cursor, anything else is a change classified against the last version's fingerprint.
//!
//! Pure: the pipeline looks up the versions seen before (the store's) and passes them in.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::bundle::{Deletion, Found};
use crate::fhir::events::{classify, Fingerprint};
use crate::model::{FhirChange, Seen};

/// The versions one page found, in page order.
#[derive(Debug)]
pub enum Versions {
    /// A search's matches, with the included resources returned with them.
    Found {
        /// The matches.
        found: Vec<Found>,
        /// The page's included resources.
        included: Vec<Value>,
    },
    /// Deletions read from a history.
    Deleted(Vec<Deletion>),
}

impl Versions {
    /// The ids of the resources found, each once: those whose last version seen the pipeline
    /// looks up before [`Versions::take`].
    pub fn resource_ids(&self) -> Vec<&str> {
        let ids: Vec<&str> = match self {
            Versions::Found { found, .. } => found.iter().map(|f| f.id.as_str()).collect(),
            Versions::Deleted(deleted) => deleted.iter().map(|d| d.id.as_str()).collect(),
        };
        let mut once = HashSet::new();
        ids.into_iter().filter(|id| once.insert(*id)).collect()
    }

    /// Sorts the versions of `type_name` against `seen`, the last version of each resource
    /// that the connection took before (by id; a resource never taken is absent).
    pub fn take(self, type_name: &str, seen: &HashMap<String, Seen>) -> Taken {
        let mut taker = Taker::new(seen, type_name);
        match self {
            Versions::Found { found, included } => {
                for version in found {
                    taker.version(version, &included);
                }
            }
            Versions::Deleted(deleted) => deleted.into_iter().for_each(|d| taker.deletion(d)),
        }
        taker.finish()
    }
}

/// What a page brings to its commit.
#[derive(Debug, Default)]
pub struct Taken {
    /// Changes that get containers, in page order.
    pub changes: Vec<FhirChange>,
    /// The new last version seen of each resource taken.
    pub seen: Vec<(String, Seen)>,
    /// Versions dropped as already taken.
    pub repeats: usize,
    /// Updates that changed nothing but `meta`.
    pub no_ops: usize,
}

/// Sorts versions of one resource type (a page's matches, or deletions) against what the
/// connection took before.
struct Taker<'a> {
    /// The last version of each resource taken before this page.
    before: &'a HashMap<String, Seen>,
    type_name: &'a str,
    /// Where each resource taken in this page has its last version in `taken.seen`: those
    /// win over `before`.
    latest: HashMap<String, usize>,
    taken: Taken,
}

impl<'a> Taker<'a> {
    /// A taker for one page of `type_name`.
    fn new(before: &'a HashMap<String, Seen>, type_name: &'a str) -> Self {
        Self {
            before,
            type_name,
            latest: HashMap::new(),
            taken: Taken::default(),
        }
    }

    fn last_seen(&self, id: &str) -> Option<Seen> {
        match self.latest.get(id) {
            Some(at) => Some(self.taken.seen[*at].1.clone()),
            None => self.before.get(id).cloned(),
        }
    }

    /// Takes one found version; `included` are the page's included resources.
    fn version(&mut self, found: Found, included: &[Value]) {
        let previous = self.last_seen(&found.id);
        if previous
            .as_ref()
            .is_some_and(|p| p.version == found.version)
        {
            self.taken.repeats += 1;
            return;
        }
        let current = Fingerprint::of(&found.resource);
        let last = previous.and_then(|p| p.fingerprint);
        let seen = Seen {
            version: found.version.clone(),
            fingerprint: Some(current.clone()),
            at: Some(found.at),
        };
        if last.as_ref().is_some_and(|l| l.same_content(&current)) {
            self.taken.no_ops += 1;
        } else {
            let classified = classify(self.type_name, last.as_ref(), Some(&current));
            let included = referenced(&found.resource, included);
            self.taken.changes.push(FhirChange {
                focus: format!("{}/{}", self.type_name, found.id),
                version: found.version,
                event_type: classified.event_type,
                resource: found.resource,
                changed_elements: classified.changed_elements,
                included,
            });
        }
        self.remember(found.id, seen);
    }

    /// Takes one deletion, unless it was taken before, or a later version of the resource
    /// was taken already (deleted, then written again: the resource lives, and its new
    /// version was notified against the one before the deletion).
    fn deletion(&mut self, deletion: Deletion) {
        let previous = self.last_seen(&deletion.id);
        let superseded = |p: &Seen| p.at.is_some_and(|at| at > deletion.at);
        if previous
            .as_ref()
            .is_some_and(|p| p.version == deletion.version || superseded(p))
        {
            self.taken.repeats += 1;
            return;
        }
        let last = previous.and_then(|p| p.fingerprint);
        let classified = classify(self.type_name, last.as_ref(), None);
        self.taken.changes.push(FhirChange {
            focus: format!("{}/{}", self.type_name, deletion.id),
            version: deletion.version.clone(),
            event_type: classified.event_type,
            resource: Value::Null,
            changed_elements: classified.changed_elements,
            included: Vec::new(),
        });
        let seen = Seen {
            version: deletion.version,
            fingerprint: None,
            at: Some(deletion.at),
        };
        self.remember(deletion.id, seen);
    }

    /// Keeps `seen` as the last version of `id`, replacing one taken earlier in the page (in
    /// place: a page of a thousand resources used to scan the list for each).
    fn remember(&mut self, id: String, seen: Seen) {
        if let Some(at) = self.latest.get(&id) {
            self.taken.seen[*at].1 = seen;
            return;
        }
        self.latest.insert(id.clone(), self.taken.seen.len());
        self.taken.seen.push((id, seen));
    }

    /// What the page brought.
    fn finish(self) -> Taken {
        self.taken
    }
}

/// The included resources that `resource` refers to (by any `reference` in it).
fn referenced(resource: &Value, included: &[Value]) -> Vec<Value> {
    if included.is_empty() {
        return Vec::new();
    }
    let mut references = Vec::new();
    collect_references(resource, &mut references);
    included
        .iter()
        .filter(|inc| {
            let (Some(kind), Some(id)) = (inc["resourceType"].as_str(), inc["id"].as_str()) else {
                return false;
            };
            references
                .iter()
                .any(|r| super::bundle::reference_id(r, kind).as_deref() == Some(id))
        })
        .cloned()
        .collect()
}

fn collect_references<'v>(value: &'v Value, out: &mut Vec<&'v str>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get("reference") {
                out.push(reference);
            }
            map.values().for_each(|v| collect_references(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_references(v, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn found(version: &str, status: &str) -> Found {
        let at = "2026-11-26T04:14:11.323Z";
        Found {
            id: "a1".into(),
            version: version.into(),
            at: chrono::DateTime::parse_from_rfc3339(at).unwrap(),
            at_text: at.into(),
            resource: json!({"resourceType": "Appointment", "id": "a1", "status": status,
                "meta": {"versionId": version}}),
        }
    }

    #[test]
    fn repeats_are_dropped_no_ops_skipped_and_changes_classified() {
        let before = HashMap::new();
        let mut taker = Taker::new(&before, "Appointment");
        taker.version(found("x", "booked"), &[]);
        taker.version(found("x", "booked"), &[]);
        taker.version(found("y", "booked"), &[]);
        taker.version(found("z", "cancelled"), &[]);
        let deletion = |version: &str| Deletion {
            id: "a1".into(),
            version: version.into(),
            at: chrono::DateTime::parse_from_rfc3339("2026-11-26T04:15:00Z").unwrap(),
        };
        taker.deletion(deletion("w"));
        taker.deletion(deletion("w"));
        let taken = taker.finish();
        let events: Vec<(&str, &str, &Vec<String>)> = taken
            .changes
            .iter()
            .map(|c| {
                (
                    c.event_type.as_str(),
                    c.version.as_str(),
                    &c.changed_elements,
                )
            })
            .collect();
        // The first sighting lists every element present: only `status` here.
        let status = vec!["status".to_owned()];
        assert_eq!(
            events,
            [
                ("Appointment.new", "x", &status),
                ("Appointment.cancelled", "z", &status),
                ("Appointment.deleted", "w", &Vec::new()),
            ]
        );
        assert_eq!((taken.repeats, taken.no_ops), (2, 1));
        assert_eq!(taken.seen.len(), 1, "one last version per resource");
        assert_eq!(taken.seen[0].1.version, "w");
        assert_eq!(taken.seen[0].1.fingerprint, None);
    }

    #[test]
    fn a_deletion_older_than_the_version_seen_leaves_the_resource_live() {
        let before = HashMap::new();
        let mut taker = Taker::new(&before, "Appointment");
        taker.version(found("v3", "booked"), &[]);
        let at = |t: &str| chrono::DateTime::parse_from_rfc3339(t).unwrap();
        taker.deletion(Deletion {
            id: "a1".into(),
            version: "v2".into(),
            at: at("2026-11-26T04:14:10Z"),
        });
        let taken = taker.finish();
        assert_eq!(taken.changes.len(), 1, "only the new version");
        assert_eq!(taken.seen[0].1.version, "v3");
    }

    /// What a page finds is sorted against the versions taken by earlier pages (the store's,
    /// passed in), each resource looked up once.
    #[test]
    fn versions_taken_before_the_page_are_repeats_and_the_next_is_classified_against_them() {
        let versions = Versions::Found {
            found: vec![found("x", "booked"), found("y", "cancelled")],
            included: Vec::new(),
        };
        assert_eq!(versions.resource_ids(), ["a1"]);
        let resource = found("x", "booked").resource;
        let before = HashMap::from([(
            "a1".to_owned(),
            Seen {
                version: "x".into(),
                fingerprint: Some(Fingerprint::of(&resource)),
                at: None,
            },
        )]);
        let taken = versions.take("Appointment", &before);
        let events: Vec<&str> = taken
            .changes
            .iter()
            .map(|c| c.event_type.as_str())
            .collect();
        assert_eq!(events, ["Appointment.cancelled"]);
        assert_eq!((taken.repeats, taken.no_ops), (1, 0));
        assert_eq!(taken.seen[0].1.version, "y");
    }

    #[test]
    fn only_the_included_resources_a_version_refers_to_come_with_it() {
        let resource = json!({"participant": [{"actor": {"reference": "Patient/p1"}}]});
        let included = [
            json!({"resourceType": "Patient", "id": "p1"}),
            json!({"resourceType": "Patient", "id": "p2"}),
        ];
        assert_eq!(referenced(&resource, &included), [included[0].clone()]);
    }
}
