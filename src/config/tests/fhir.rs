//! `source = "fhir"` connections: what loads, and each wrong key named at its line.

use std::time::Duration;

use super::{errors, parse_ok, VALID};
use crate::config::{ReferencePath, SourceKind};

/// The lines of `VALID` up to its connection, then a FHIR connection (its table on line 8).
fn fhir(connection: &str) -> String {
    let head = &VALID[..VALID.find("[connections.clinic-a]").unwrap()];
    format!("{head}[connections.hospital-b]\n{connection}")
}

const FHIR: &str = r#"destination = "app"
source = "fhir"
base_url = "https://fhir.example.org/R4"
lag_secs = 2.5
initial_since = "2026-11-01T00:00:00Z"

[[connections.hospital-b.resources]]
type = "Appointment"
params = "status=booked,cancelled"
enrich = ["participant.actor:Patient", "participant.actor"]
deletes = true

[[connections.hospital-b.resources]]
type = "Patient"
"#;

#[test]
fn a_fhir_connection_loads_with_its_resources_and_defaults() {
    let config = parse_ok(&fhir(FHIR));
    let conn = &config.connections["hospital-b"];
    assert_eq!(conn.source.kind(), SourceKind::Fhir);
    assert_eq!(conn.source.page_size(), Some(100), "default _count");
    let fhir = conn.source.fhir().unwrap();
    assert_eq!(fhir.lag, Duration::from_millis(2500));
    assert_eq!(fhir.initial_since, "2026-11-01T00:00:00Z");
    let appointment = &fhir.resources[0];
    assert_eq!(appointment.type_name, "Appointment");
    assert_eq!(
        appointment.params,
        [("status".to_owned(), "booked,cancelled".to_owned())]
    );
    assert_eq!(
        appointment.enrich,
        [
            ReferencePath {
                elements: vec!["participant".into(), "actor".into()],
                target: Some("Patient".into())
            },
            ReferencePath {
                elements: vec!["participant".into(), "actor".into()],
                target: None
            }
        ]
    );
    assert!(appointment.deletes);
    assert!(!fhir.resources[1].deletes);
    let minimal = fhir_minimal("");
    let defaults = parse_ok(&minimal).connections["hospital-b"]
        .source
        .fhir()
        .cloned()
        .unwrap();
    assert_eq!(defaults.lag, Duration::from_secs(5));
    assert_eq!(defaults.initial_since, "1970-01-01T00:00:00Z");
}

fn fhir_minimal(extra: &str) -> String {
    fhir(&format!(
        "destination = \"app\"\nsource = \"fhir\"\nbase_url = \"https://f.example.org\"\n{extra}\
         [[connections.hospital-b.resources]]\ntype = \"Appointment\"\n"
    ))
}

#[test]
fn changes_feed_keys_are_refused_for_a_fhir_connection_at_their_line() {
    let text = fhir_minimal("changes_path = \"/x\"\nevent_type = \"x\"\ncursor_from = \"items\"\n");
    assert_eq!(
        errors(&text),
        "config/courier.toml:12: connections.hospital-b.changes_path: only applies with source = \"changes\"\n\
         config/courier.toml:13: connections.hospital-b.event_type: not with source = \"fhir\" (event types come from the resource type)\n\
         config/courier.toml:14: connections.hospital-b.cursor_from: only applies with source = \"changes\""
    );
}

#[test]
fn fhir_keys_are_refused_for_a_changes_feed() {
    let text = VALID.replace(
        "event_type = \"appointment.updated\"\n",
        "event_type = \"appointment.updated\"\ninitial_since = \"2026-01-01T00:00:00Z\"\n",
    );
    assert_eq!(
        errors(&text),
        "config/courier.toml:19: connections.clinic-a.initial_since: only applies with source = \"fhir\""
    );
}

#[test]
fn each_wrong_fhir_value_is_named_at_its_line() {
    let text = fhir(
        "destination = \"app\"\nsource = \"fhir\"\nbase_url = \"https://f.example.org\"\n\
         initial_since = \"yesterday\"\n\
         [[connections.hospital-b.resources]]\ntype = \"appointment\"\n\
         params = \"_count=5\"\nenrich = [\"participant..actor\", \"subject:patient\"]\n",
    );
    let rendered = errors(&text);
    for expected in [
        "config/courier.toml:12: connections.hospital-b.initial_since: must be an RFC 3339 time",
        "config/courier.toml:14: connections.hospital-b.resources[0].type: must be a FHIR resource type name",
        "config/courier.toml:15: connections.hospital-b.resources[0].params: must not set _count",
        "connections.hospital-b.resources[0].enrich[0]: must be a dotted element path",
        "connections.hospital-b.resources[0].enrich[1]: must be a dotted element path",
    ] {
        assert!(rendered.contains(expected), "{expected:?} missing in:\n{rendered}");
    }
}

#[test]
fn a_fhir_connection_needs_a_resource_type() {
    let text =
        fhir("destination = \"app\"\nsource = \"fhir\"\nbase_url = \"https://f.example.org\"\n");
    assert_eq!(
        errors(&text),
        "config/courier.toml:8: connections.hospital-b.resources: at least one [[resources]] table is required with source = \"fhir\""
    );
}

#[test]
fn the_fhir_example_file_parses_with_the_values_it_documents() {
    let config = parse_ok(include_str!("../../../config/fhir.toml"));
    let conn = &config.connections["hospital-b"];
    assert_eq!(conn.source.kind(), SourceKind::Fhir);
    let fhir = conn.source.fhir().unwrap();
    assert_eq!(fhir.lag, Duration::from_secs(5));
    let types: Vec<&str> = fhir
        .resources
        .iter()
        .map(|r| r.type_name.as_str())
        .collect();
    assert_eq!(types, ["Appointment", "Patient"]);
    assert_eq!(fhir.resources[0].enrich.len(), 2);
    assert_eq!(fhir.resources[0].params[1].0, "_include");
}

/// `fhir_minimal` with these lines in its `[[resources]]` table (which starts on line 12
/// plus the connection's extra lines).
fn fhir_resource(extra: &str, resource: &str) -> String {
    format!("{}{resource}", fhir_minimal(extra))
}

#[test]
fn initial_baseline_on_a_last_updated_type_starts_at_the_servers_clock_unless_unset() {
    use crate::config::FhirMode;
    let mode = |text: &str| {
        let config = parse_ok(text);
        config.connections["hospital-b"]
            .source
            .fhir()
            .unwrap()
            .resources[0]
            .mode
            .clone()
    };
    let baseline = fhir_resource("", "initial = \"baseline\"\n");
    assert_eq!(mode(&baseline), FhirMode::LastUpdated { baseline: true });
    let notify = fhir_resource("", "initial = \"notify\"\n");
    assert_eq!(mode(&notify), FhirMode::LastUpdated { baseline: false });
    assert_eq!(
        mode(&fhir_minimal("")),
        FhirMode::LastUpdated { baseline: false },
        "without initial, from initial_since as before"
    );
}

#[test]
fn initial_with_initial_since_and_deletes_in_snapshot_mode_are_refused() {
    let both = fhir_resource(
        "initial_since = \"2026-01-01T00:00:00Z\"\n",
        "initial = \"baseline\"\n",
    );
    assert_eq!(
        errors(&both),
        "config/courier.toml:15: connections.hospital-b.resources[0].initial: not with \
         initial_since: both say where a new type starts; keep one"
    );
    let window = "mode = \"snapshot\"\nparams = \"date=ge{today}\"\nwindow_start = \"today\"\n\
                  window_end = \"today+14d\"\ndeletes = true\n";
    let rendered = errors(&fhir_resource("", window));
    assert!(
        rendered.contains("resources[0].deletes: not with mode = \"snapshot\""),
        "{rendered}"
    );
    // A window's `initial` is about its first listing, not where a cursor starts.
    let snapshot = "mode = \"snapshot\"\nparams = \"date=ge{today}\"\nwindow_start = \"today\"\n\
                    window_end = \"today+14d\"\ninitial = \"notify\"\n";
    parse_ok(&fhir_resource(
        "initial_since = \"2026-01-01T00:00:00Z\"\n",
        snapshot,
    ));
}

/// The window search itself is checked in `record_sources`; here, the `_lastUpdated` type
/// beside it.
#[test]
fn the_fhir_window_example_starts_its_last_updated_type_at_the_servers_clock() {
    use crate::config::FhirMode;
    let config = parse_ok(include_str!("../../../config/fhir-window.toml"));
    let fhir = config.connections["hospital-d"].source.fhir().unwrap();
    assert!(matches!(fhir.resources[0].mode, FhirMode::Snapshot(_)));
    assert_eq!(
        fhir.resources[1].mode,
        FhirMode::LastUpdated { baseline: true }
    );
}
