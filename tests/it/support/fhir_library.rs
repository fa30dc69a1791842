//! Parses notification Bundles with a FHIR library (`fhir.resources`, pydantic models of every
//! resource and datatype), so a receiver built on one is known to read what Courier sends.

use serde_json::Value;

use super::venv::Venv;

/// The library version, pinned so an upstream release cannot change a verdict silently.
const LIBRARY: &str = "fhir.resources==8.3.0";

/// The script that calls the library; kept beside this file so it can be read and run alone.
const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/it/support/fhir_bundle.py"
);

/// Per Bundle, what the library parsed (`type`, `resources` by entry, status `parameters`) or
/// `{"error": …}` when its models refuse the Bundle.
pub fn parse_bundles(bundles: &[Value]) -> Vec<Value> {
    let parsed = Venv::of(LIBRARY).run_json_script(SCRIPT, &bundles, "FHIR library");
    serde_json::from_value(parsed).expect("the script prints one verdict per Bundle")
}
