//! What a FHIR container carries besides the resource: which resource it is about, what
//! changed, and the related resources the search returned with it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The FHIR side of a container, fixed when the poll commits it so a redelivery after a
/// restart says the same thing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FhirContext {
    /// `Type/id` of the changed resource: the notification's `data.focus`.
    pub focus: String,
    /// Top-level elements that differ from the previous version seen (all of them for a
    /// first sighting, none for a deletion).
    pub changed_elements: Vec<String>,
    /// Resources the search returned with `search.mode = "include"` that the focus resource
    /// refers to, so enrichment need not fetch them again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub included: Vec<Value>,
}
