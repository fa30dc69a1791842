//! `courier check --probe` for FHIR connections: asks each server's `/metadata` whether it can
//! list deletions for the types that ask for them, before anything runs.

use super::metadata::{read, supports_type_history, unsupported_message};
use crate::config::ConnectionConfig;
use crate::ehr::EhrClient;

/// One line per resource type with `deletes = true` of a FHIR connection, and whether all is
/// well. Must run inside an actix System (the EHR client does).
pub async fn probe(config: &ConnectionConfig) -> (Vec<String>, bool) {
    let Some(fhir) = config.source.fhir() else {
        return (Vec::new(), true);
    };
    let wanted: Vec<&str> = fhir
        .resources
        .iter()
        .filter(|r| r.deletes)
        .map(|r| r.type_name.as_str())
        .collect();
    if wanted.is_empty() {
        return (Vec::new(), true);
    }
    let id = &config.id;
    let statement = match read(&EhrClient::new(config)).await {
        Ok(statement) => statement,
        Err(err) => return (vec![format!("{id}: cannot read /metadata: {err}")], false),
    };
    let mut ok = true;
    let lines = wanted
        .into_iter()
        .map(|type_name| {
            if supports_type_history(&statement, type_name) {
                format!("{id}: {type_name}: type history supported, deletions are read")
            } else {
                ok = false;
                format!("{id}: {}", unsupported_message(type_name))
            }
        })
        .collect();
    (lines, ok)
}
