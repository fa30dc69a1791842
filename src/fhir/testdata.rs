//! Official HL7 R4 example resources (npm `hl7.fhir.r4.examples@4.0.1`), so the tests use
//! the shapes real servers return.

use serde_json::Value;

/// `Appointment-example.json`: a booked appointment with patient, practitioner and location.
pub(crate) fn appointment() -> Value {
    parse(include_str!("testdata/Appointment-example.json"))
}

/// `Patient-example.json`: a patient with a `_birthDate` primitive extension.
pub(crate) fn patient() -> Value {
    parse(include_str!("testdata/Patient-example.json"))
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).expect("the committed HL7 examples are valid JSON")
}
