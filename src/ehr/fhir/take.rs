//! Deciding what a page's versions mean: a version already taken is dropped, a no-op update
//! (same content as the last version seen) only moves the cursor, anything else is a change
//! classified against the last version's fingerprint.

use std::collections::HashMap;

use serde_json::Value;

use super::bundle::{Deletion, Found};
use crate::fhir::events::{classify, Fingerprint};
use crate::store::fhir::{FhirChange, Seen};
use crate::store::{Store, StoreError};

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
pub struct Taker<'a> {
    store: &'a Store,
    connection: &'a str,
    type_name: &'a str,
    /// Where each resource taken in this page has its last version in `taken.seen`: those
    /// win over the store's.
    latest: HashMap<String, usize>,
    taken: Taken,
}

impl<'a> Taker<'a> {
    /// A taker for one page of `type_name`.
    pub fn new(store: &'a Store, connection: &'a str, type_name: &'a str) -> Self {
        Self {
            store,
            connection,
            type_name,
            latest: HashMap::new(),
            taken: Taken::default(),
        }
    }

    async fn last_seen(&self, id: &str) -> Result<Option<Seen>, StoreError> {
        match self.latest.get(id) {
            Some(at) => Ok(Some(self.taken.seen[*at].1.clone())),
            None => {
                self.store
                    .fhir_seen(self.connection, self.type_name, id)
                    .await
            }
        }
    }

    /// Takes one found version; `included` are the page's included resources.
    pub async fn version(&mut self, found: Found, included: &[Value]) -> Result<(), StoreError> {
        let previous = self.last_seen(&found.id).await?;
        if previous
            .as_ref()
            .is_some_and(|p| p.version == found.version)
        {
            self.taken.repeats += 1;
            return Ok(());
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
        Ok(())
    }

    /// Takes one deletion, unless it was taken before, or a later version of the resource
    /// was taken already (deleted, then written again: the resource lives, and its new
    /// version was notified against the one before the deletion).
    pub async fn deletion(&mut self, deletion: Deletion) -> Result<(), StoreError> {
        let previous = self.last_seen(&deletion.id).await?;
        let superseded = |p: &Seen| p.at.is_some_and(|at| at > deletion.at);
        if previous
            .as_ref()
            .is_some_and(|p| p.version == deletion.version || superseded(p))
        {
            self.taken.repeats += 1;
            return Ok(());
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
        Ok(())
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
    pub fn finish(self) -> Taken {
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

    #[actix_rt::test]
    async fn repeats_are_dropped_no_ops_skipped_and_changes_classified() {
        let store = Store::temporary().unwrap();
        let mut taker = Taker::new(&store, "h", "Appointment");
        taker.version(found("x", "booked"), &[]).await.unwrap();
        taker.version(found("x", "booked"), &[]).await.unwrap();
        taker.version(found("y", "booked"), &[]).await.unwrap();
        taker.version(found("z", "cancelled"), &[]).await.unwrap();
        let deletion = |version: &str| Deletion {
            id: "a1".into(),
            version: version.into(),
            at: chrono::DateTime::parse_from_rfc3339("2026-11-26T04:15:00Z").unwrap(),
        };
        taker.deletion(deletion("w")).await.unwrap();
        taker.deletion(deletion("w")).await.unwrap();
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

    #[actix_rt::test]
    async fn a_deletion_older_than_the_version_seen_leaves_the_resource_live() {
        let store = Store::temporary().unwrap();
        let mut taker = Taker::new(&store, "h", "Appointment");
        taker.version(found("v3", "booked"), &[]).await.unwrap();
        let at = |t: &str| chrono::DateTime::parse_from_rfc3339(t).unwrap();
        taker
            .deletion(Deletion {
                id: "a1".into(),
                version: "v2".into(),
                at: at("2026-11-26T04:14:10Z"),
            })
            .await
            .unwrap();
        let taken = taker.finish();
        assert_eq!(taken.changes.len(), 1, "only the new version");
        assert_eq!(taken.seen[0].1.version, "v3");
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
