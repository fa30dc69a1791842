//! Enriching a container: fetching the changed record and its related records by identifier,
//! step by step, so later steps can follow references found by earlier ones.

use serde_json::{Map, Value};

use super::{EhrClient, EhrError};
use crate::config::{ConnectionConfig, EnrichStep};
use crate::model::Container;

/// The fetched resources of one container.
#[derive(Debug, Default, PartialEq)]
pub struct Enriched {
    /// Each step's result under the step's name; `null` when the record is gone.
    pub resources: Map<String, Value>,
    /// Steps whose record the EHR no longer has (404/410) or whose reference was absent.
    pub missing: Vec<String>,
}

/// Enriches a container the way its source asks: FHIR references for a FHIR container,
/// the connection's steps otherwise.
pub async fn enrich_container(
    client: &EhrClient,
    config: &ConnectionConfig,
    container: &Container,
) -> Result<Enriched, EhrError> {
    match &container.fhir {
        Some(fhir) => super::fhir::enrich::enrich(client, config, container, fhir).await,
        // A record source's removal has no record left to fetch details for.
        None if container.change.is_null() => enrich(client, &[], container).await,
        // Every container of a FHIR source carries its FHIR context; without one there are
        // no steps to run (it has none).
        None => enrich(client, config.source.enrich_steps(), container).await,
    }
}

/// Runs every step for `container`. A record that no longer exists (404/410) or a reference
/// that an earlier result lacks becomes `null` and is listed in `missing`: the change still
/// happened and is still delivered. Any other failure is returned, to be retried later.
pub async fn enrich(
    client: &EhrClient,
    steps: &[EnrichStep],
    container: &Container,
) -> Result<Enriched, EhrError> {
    let mut enriched = Enriched::default();
    for step in steps {
        let path = match step.path.render(&container.change, &enriched.resources) {
            Ok(path) => path,
            Err(_) if step.optional => continue,
            Err(_) => {
                enriched.mark_missing(&step.name);
                continue;
            }
        };
        match client.get_json(&path, &[]).await {
            // A record is a JSON object; anything else (an array, a bare value) is a garbled
            // answer, refused so the container is retried instead of delivered wrong.
            Ok(response) if !response.body.is_object() => {
                return Err(EhrError::Shape {
                    path,
                    reason: format!(
                        "enrich step {:?} expects a JSON object (the record)",
                        step.name
                    ),
                });
            }
            Ok(response) => {
                enriched.resources.insert(step.name.clone(), response.body);
            }
            Err(err) if err.is_not_found() => enriched.mark_missing(&step.name),
            Err(err) => return Err(err),
        }
    }
    Ok(enriched)
}

impl Enriched {
    fn mark_missing(&mut self, name: &str) {
        self.resources.insert(name.to_owned(), Value::Null);
        self.missing.push(name.to_owned());
    }
}
