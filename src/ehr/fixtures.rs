//! A connection configuration for unit tests of the EHR modules, built directly so these
//! tests do not depend on the config file format.

use std::time::Duration;

use crate::config::{ConnectionConfig, EnrichStep, SourceKind};
use crate::template::Template;

/// The `clinic-a` example: appointments changes feed, enriched with appointment and patient.
pub fn connection() -> ConnectionConfig {
    ConnectionConfig {
        id: "clinic-a".into(),
        destination: "app".into(),
        source: SourceKind::Changes,
        base_url: "http://127.0.0.1:9/api".parse().unwrap(),
        interval: Duration::from_secs(60),
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(5),
        body_timeout: Duration::from_secs(5),
        backoff_min: Duration::from_millis(10),
        backoff_max: Duration::from_millis(100),
        max_response_bytes: 1 << 20,
        fhir: None,
        changes_path: "/appointments/changed".into(),
        since_param: "since".into(),
        initial_cursor: "0".into(),
        page_size_param: Some("limit".into()),
        page_size: Some(100),
        items_pointer: String::new(),
        key_pointer: "/id".into(),
        version_pointer: Some("/ts".into()),
        cursor_pointer: Some("/seq".into()),
        cursor_from: crate::config::CursorFrom::Items,
        max_clock_skew: Duration::from_secs(300),
        event_type: "appointment.updated".into(),
        enrich: vec![
            EnrichStep {
                name: "appointment".into(),
                path: Template::parse("/appointments/{/id}").unwrap(),
                optional: false,
            },
            EnrichStep {
                name: "patient".into(),
                path: Template::parse("/patients/{/patientId}").unwrap(),
                optional: false,
            },
        ],
        max_concurrent_enrichments: 8,
        auth: None,
        max_requests_per_sec: None,
        max_concurrent_requests: None,
        tls: crate::tls::ClientTls::webpki_roots(),
        heartbeat: None,
    }
}
