//! The FHIR throughput scenario: scenario 1 run again with `source = "fhir"`, Courier's
//! `_lastUpdated` search of the load EHR's `/fhir` flavour, to show what keyset paging,
//! per-version deduplication and fingerprints cost against the changes feed.

use crate::scenarios::{Bench, Results, Setup, Source, ThroughputRun};

/// An endless backlog of Appointments, 1 connection, one `enrich` reference (the Patient),
/// Standard Webhooks signing, durable containers; Courier's peak RSS (kB).
pub fn throughput(bench: &Bench, results: &mut Results) -> u64 {
    let run = ThroughputRun {
        name: "throughput-fhir".into(),
        setup: Setup {
            source: Source::Fhir,
            ..Setup::draining(1)
        },
        scenario: "1. Throughput, FHIR search, endless backlog, 1 connection".into(),
        settings: "source = \"fhir\", _count 1000, lag_secs 1, the Appointment from the search \
                   (256-byte comment) and 1 enrichment GET of a 256-byte-padded Patient, \
                   max_concurrent_enrichments 32, max_in_flight 256"
            .into(),
    };
    run.measure(bench, results)
}

/// The `/fhir` base URL of the load EHR whose changes feed is at `api` (`…/api`).
fn fhir_base(api: &str) -> String {
    format!("{}/fhir", api.trim_end_matches("/api"))
}

/// A FHIR connection `id` of the scenario's configuration, against the load EHR at `api`.
/// The backlog's changes were last updated from 2020 on, so `initial_since` is before that.
pub fn connection_toml(id: &str, api: &str, setup: &Setup) -> String {
    format!(
        "[connections.{id}]\ndestination = \"hooks\"\nsource = \"fhir\"\n\
         base_url = \"{}\"\ninterval_secs = {}\npage_size = {}\nlag_secs = 1\n\
         initial_since = \"2019-12-31T00:00:00Z\"\nmax_concurrent_enrichments = {}\n\
         [[connections.{id}.resources]]\ntype = \"Appointment\"\n\
         enrich = [\"participant.actor:Patient\"]\n\n",
        fhir_base(api),
        setup.interval_secs,
        setup.page_size,
        setup.enrichments
    )
}
