//! The server's CapabilityStatement (`/metadata`): whether it can list a type's history,
//! which reading deletions needs.

use serde_json::Value;

use crate::ehr::{EhrClient, EhrError};

/// Reads `/metadata`; anything but a CapabilityStatement is an error.
pub async fn read(client: &EhrClient) -> Result<Value, EhrError> {
    let response = client.get_json("/metadata", &[]).await?;
    if response.body["resourceType"] != "CapabilityStatement" {
        return Err(EhrError::Shape {
            path: "/metadata".to_owned(),
            reason: "expected a CapabilityStatement".to_owned(),
        });
    }
    Ok(response.body)
}

/// Whether a server `rest` entry declares the `history-type` interaction for `type_name`.
pub fn supports_type_history(statement: &Value, type_name: &str) -> bool {
    let rests = statement["rest"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    rests
        .iter()
        .filter(|rest| rest["mode"].as_str().unwrap_or("server") == "server")
        .flat_map(|rest| {
            rest["resource"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
        })
        .filter(|resource| resource["type"] == type_name)
        .flat_map(|resource| {
            resource["interaction"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
        })
        .any(|interaction| interaction["code"] == "history-type")
}

/// The warning shown (log and status) when deletions cannot be read.
pub fn unsupported_message(type_name: &str) -> String {
    format!(
        "the server's /metadata does not declare history-type for {type_name}: deletions of \
         {type_name} are not seen (deletes = true has no effect)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn type_history_is_read_from_the_resource_interactions() {
        let statement = json!({"resourceType": "CapabilityStatement", "rest": [{"mode": "server", "resource": [
            {"type": "Appointment", "interaction": [{"code": "read"}, {"code": "history-type"}]},
            {"type": "Patient", "interaction": [{"code": "read"}, {"code": "history-instance"}]}
        ]}]});
        assert!(supports_type_history(&statement, "Appointment"));
        assert!(!supports_type_history(&statement, "Patient"));
        assert!(!supports_type_history(&statement, "Location"));
    }
}
