//! `initial = "baseline"` for a `_lastUpdated` type: a track with no stored cursor starts at
//! the server's clock instead of `initial_since`. Its first read only asks the server for its
//! time (the `Date` of `GET /metadata`, which every FHIR server answers) and commits that,
//! minus the lag, as the cursor, with no versions: a new connection notifies nothing of what
//! the server already had, and everything written from then on.

use super::search::instant_text;
use super::{Ctx, FhirPage, FhirRead, Versions};
use crate::config::FhirResource;
use crate::ehr::EhrError;
use crate::model::{FhirCursor, Track};

/// The page that starts `resource`'s `track` at the server's clock; `at` is the read's place
/// in its round, which reads the track again at once, from the new cursor.
pub(super) async fn page(
    ctx: &Ctx<'_>,
    resource: &FhirResource,
    track: Track,
    at: usize,
) -> Result<FhirPage, EhrError> {
    let path = "/metadata";
    let response = ctx.client.get_json(path, &[]).await?;
    let now = ctx.client.clock().now();
    // The lag, as for a search's bound: a write committed late, stamped just before the
    // server's `Date`, is still ahead of the cursor.
    let start = ctx
        .clock
        .observe((response.date, now), ctx.fhir.lag, path)?;
    let from = ctx.cursor(None);
    let to = FhirCursor {
        since: instant_text(start),
        past: false,
    };
    let read = FhirRead::new(&resource.type_name, track, (from, to));
    Ok(FhirPage {
        read: FhirRead {
            at,
            more: true,
            ..read
        },
        versions: Versions::Found {
            found: Vec::new(),
            included: Vec::new(),
        },
    })
}
