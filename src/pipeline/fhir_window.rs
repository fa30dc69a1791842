//! One poll of a FHIR connection whose next read is a `mode = "snapshot"` type: a page of
//! its window search's listing (or of its sweep) made durable by the listing driver
//! ([`super::snapshot::poll_listing`]), then the FHIR round moved on once the listing ended.

use super::snapshot::{poll_listing, Ctx};
use super::{PageResult, PollError};
use crate::config::ConnectionConfig;
use crate::ehr::fhir::window::WindowLister;
use crate::ehr::fhir::{FhirPoller, NextRead};
use crate::ehr::snapshot::ListingState;
use crate::ehr::EhrClient;
use crate::model::CursorValue;
use crate::store::Store;

/// Reads and commits the next page of `next`'s listing; the round moves on to the next type
/// only once the listing is done, so a type's listing is read one page per poll, at once.
pub(super) async fn poll_window(
    poller: &FhirPoller,
    next: &NextRead,
    (lister, state): (&WindowLister<'_>, &ListingState),
    client: &EhrClient,
    config: &ConnectionConfig,
    store: &Store,
) -> Result<PageResult, PollError> {
    let ctx = Ctx {
        config,
        client,
        store,
    };
    let step = poll_listing(lister, state, &ctx).await?;
    let more = poller.listed(next, step.done);
    Ok(PageResult {
        created: step.containers.len(),
        containers: step.containers,
        returned: step.returned,
        requested: None,
        cursor: CursorValue(format!("{}:{}", next.type_name, step.position)),
        cursor_moved: true,
        behind: 0,
        more,
    })
}
