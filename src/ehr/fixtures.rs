//! Connection configurations for unit tests of the EHR modules and the pipeline, built
//! directly so these tests do not depend on the config file format.

use std::time::Duration;

use crate::config::{
    ChangesSource, ConnectionConfig, EnrichStep, FhirResource, FhirSource, Initial, Paging,
    SnapshotSource, Source,
};
use crate::template::Template;
use crate::window::{TimeExpr, TimeTemplate, Window};

/// The `clinic-a` example's feed: appointment changes, enriched with appointment and patient.
pub fn feed() -> ChangesSource {
    let step = |name: &str, path: &str| EnrichStep {
        name: name.into(),
        path: Template::parse(path).unwrap(),
        optional: false,
    };
    ChangesSource {
        page_size_param: Some("limit".into()),
        page_size: Some(100),
        version_pointer: Some("/ts".into()),
        enrich: vec![
            step("appointment", "/appointments/{/id}"),
            step("patient", "/patients/{/patientId}"),
        ],
        ..ChangesSource::new(
            "/appointments/changed",
            "/id",
            "/seq",
            "appointment.updated",
        )
    }
}

/// The `clinic-a` example, with short timeouts and backoff so failing tests fail fast.
pub fn connection() -> ConnectionConfig {
    let base_url = "http://127.0.0.1:9/api".parse().unwrap();
    ConnectionConfig {
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(5),
        body_timeout: Duration::from_secs(5),
        backoff_min: Duration::from_millis(10),
        backoff_max: Duration::from_millis(100),
        max_response_bytes: 1 << 20,
        max_concurrent_enrichments: 8,
        ..ConnectionConfig::new(
            "clinic-a",
            "app",
            base_url,
            Source::Changes(Box::new(feed())),
        )
    }
}

/// A FHIR server's settings reading `resources` (type name, and whether its deletions are
/// read) from `initial_since` on, with no lag behind the server's clock.
pub fn fhir_source(resources: &[(&str, bool)]) -> FhirSource {
    FhirSource {
        lag: Duration::ZERO,
        initial_since: "2019-01-01T00:00:00Z".into(),
        resources: resources
            .iter()
            .map(|(type_name, deletes)| FhirResource {
                type_name: (*type_name).to_owned(),
                params: Vec::new(),
                enrich: Vec::new(),
                deletes: *deletes,
                mode: crate::config::FhirMode::LastUpdated { baseline: false },
            })
            .collect(),
        page_size: 100,
    }
}

/// A listing of `/schedule` between yesterday and two weeks ahead (`from=MM/DD/YYYY`), paged
/// as `paging` says, comparing status and start, with a total and a read by id.
pub fn snapshot(paging: Paging) -> SnapshotSource {
    SnapshotSource {
        list_path: "/schedule".into(),
        list_query: TimeTemplate::parse("from={today-1d}&to={today+14d}").unwrap(),
        date_format: Some("%m/%d/%Y".into()),
        window: Window {
            start: TimeExpr::parse("today-1d").unwrap(),
            end: TimeExpr::parse("today+14d").unwrap(),
        },
        date_pointer: "/start".into(),
        items_pointer: "/items".into(),
        key_pointer: "/id".into(),
        compare: vec!["/status".into(), "/start".into()],
        paging,
        total_pointer: Some("/total".into()),
        confirm_path: Some(Template::parse("/appointments/{/key}").unwrap()),
        initial: Initial::Baseline,
        event_prefix: "appointment".into(),
        enrich: Vec::new(),
    }
}
