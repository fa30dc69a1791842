//! Which kind of source a connection reads its changes from: the one place where the kinds
//! differ, behind one poll loop (the pipeline's, paced by the connection actor) that treats
//! every kind alike.

use super::consume::ConsumeOnceReader;
use super::fhir::FhirPoller;
use super::snapshot::{JsonLister, ListingState, SnapshotReader};
use crate::config::Source as SourceConfig;
use crate::config::{ChangesSource, ConnectionConfig, ConsumeOnceSource, SnapshotSource};

/// How a connection reads its changes; lives as long as the connection's generation (what
/// must survive a restart is in the store, and the pipeline passes it in).
pub enum Source {
    /// A changes feed, with its settings: [`super::changes::read_page`].
    Changes(ChangesSource),
    /// A FHIR server: its per-generation poller state.
    Fhir(FhirPoller),
    /// A snapshot source: its lister and the listing under way.
    Snapshot(Box<SnapshotReader>),
    /// A consume-once feed: its per-generation reader (recovery state).
    ConsumeOnce(Box<ConsumeOnceReader>),
}

impl Source {
    /// The source a connection's configuration asks for.
    pub fn for_connection(config: &ConnectionConfig) -> Self {
        match &config.source {
            SourceConfig::Changes(feed) => Source::Changes(ChangesSource::clone(feed)),
            SourceConfig::Fhir(fhir) => Source::Fhir(FhirPoller::new(fhir.clone())),
            SourceConfig::Snapshot(snapshot) => Source::Snapshot(Box::new(SnapshotReader {
                lister: JsonLister::new(SnapshotSource::clone(snapshot), &config.base_url),
                state: ListingState::default(),
            })),
            SourceConfig::ConsumeOnce(feed) => Source::ConsumeOnce(Box::new(
                ConsumeOnceReader::new(ConsumeOnceSource::clone(feed)),
            )),
        }
    }
}
