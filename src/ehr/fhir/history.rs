//! Deletions of one resource type, read from `{type}/_history?_since=`: a search never
//! returns a deleted resource, so only the history shows that one went.
//!
//! History only grows, so its offset-based `next` links are safe to follow: a version
//! written while Courier pages can only repeat an entry (dropped as taken), never hide one.

use chrono::{DateTime, Utc};

use super::bundle::{self, BundleKind};
use super::search::instant_text;
use super::take::Taker;
use super::{Ctx, Step};
use crate::config::FhirResource;
use crate::ehr::poll::PollError;
use crate::store::fhir::{FhirCursor, Track};

/// Reads every history entry of `resource` since its deletions cursor, commits the deletions
/// up to the server's clock minus the lag, and moves the cursor there.
pub(super) async fn deletions(ctx: &Ctx<'_>, resource: &FhirResource) -> Result<Step, PollError> {
    let type_name = &resource.type_name;
    let lag = ctx.fhir().lag;
    let cursor = ctx.cursor(type_name, Track::Deletes)?;
    let upper = ctx.clock.upper(lag);
    let path = format!("/{type_name}/_history");
    let count = ctx.page_size.to_string();
    let query = [
        ("_since", cursor.since.as_str()),
        ("_count", count.as_str()),
    ];
    let mut response = ctx.client.get_json(&path, &query).await?;
    let bound: DateTime<Utc> = upper.min(ctx.clock.observe(response.date, lag, &path)?);
    let mut taker = Taker::new(ctx.store, &ctx.config.id, type_name);
    let (mut returned, mut pages) = (0, 0);
    let mut page_path = path;
    loop {
        let page = bundle::parse(&page_path, response.body, BundleKind::History)?;
        returned += page.entries.len();
        for entry in &page.entries {
            match bundle::deletion(&page_path, entry, type_name)? {
                Some(deletion) if deletion.at <= bound => taker.deletion(deletion)?,
                _ => {}
            }
        }
        let Some(next) = page.next else { break };
        (page_path, response) = ctx.follow(&next, &mut pages).await?;
    }
    // Every entry up to the bound was read: the next read starts there.
    let next = FhirCursor {
        since: instant_text(bound),
        past: false,
    };
    let step = ctx
        .commit(type_name, Track::Deletes, (cursor, next), taker.finish())
        .await?;
    Ok(Step { returned, ..step })
}
