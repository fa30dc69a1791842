//! Parses notification Bundles with a FHIR library (`fhir.resources`, pydantic models of every
//! resource and datatype), so a receiver built on one is known to read what Courier sends.

use std::io::Write;
use std::process::{Command, Stdio};

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
    let mut child = Command::new(Venv::of(LIBRARY).python())
        .arg(SCRIPT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the virtualenv's python starts");
    let input = serde_json::to_vec(bundles).expect("JSON values serialize");
    let mut stdin = child.stdin.take().expect("stdin is piped");
    // Write from another thread so a large request cannot deadlock against a full stdout pipe.
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().expect("the script runs");
    writer
        .join()
        .expect("the writer thread does not panic")
        .expect("the script reads its whole request");
    assert!(
        output.status.success(),
        "the FHIR library script failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the script prints JSON")
}
