//! Deletions of one resource type, read from `{type}/_history?_since=`: a search never
//! returns a deleted resource, so only the history shows that one went.
//!
//! History only grows, so its offset-based `next` links are safe to follow: a version
//! written while Courier pages can only repeat an entry (dropped as taken), never hide one.
//! History is newest first, so once an entry older than the cursor was read, every later
//! page is older still: the read stops there. A server whose links drop `_since` (sekmet's
//! do) would otherwise page through the type's whole history at every read.

use chrono::{DateTime, FixedOffset, Utc};

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
    let lag = ctx.fhir.lag;
    let cursor = ctx.cursor(type_name, Track::Deletes).await?;
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
    let mut descent = Descent::from(&cursor.since);
    let (mut returned, mut pages) = (0, 0);
    let mut page_path = path;
    loop {
        let page = bundle::parse(&page_path, response.body, BundleKind::History)?;
        returned += page.entries.len();
        for entry in &page.entries {
            let at = bundle::history_instant(entry);
            at.inspect(|at| descent.see(*at));
            match bundle::deletion(&page_path, entry, type_name)? {
                Some(deletion) if deletion.at <= bound && !descent.is_before(deletion.at) => {
                    taker.deletion(deletion).await?;
                }
                _ => {}
            }
        }
        if descent.is_past_cursor() {
            break;
        }
        let Some(next) = page.next else { break };
        (page_path, response) = ctx.follow(&next, &mut pages).await?;
    }
    // Every entry from the cursor up to the bound was read: the next read starts there.
    let next = FhirCursor {
        since: instant_text(bound),
        past: false,
    };
    let step = ctx
        .commit(type_name, Track::Deletes, (cursor, next), taker.finish())
        .await?;
    Ok(Step { returned, ..step })
}

/// How far back a history read has come: whether its entries so far came newest first, and
/// whether one of them is older than the cursor (so every entry after it is too).
#[derive(Debug)]
struct Descent {
    /// The cursor (`_since`, inclusive); `None` when it is not an instant.
    since: Option<DateTime<FixedOffset>>,
    /// The instant of the last entry read.
    last: Option<DateTime<FixedOffset>>,
    /// Every entry so far was no newer than the one before it.
    sorted: bool,
    /// An entry older than the cursor was read.
    older: bool,
}

impl Descent {
    /// A read from the cursor `since`.
    fn from(since: &str) -> Self {
        Self {
            since: DateTime::parse_from_rfc3339(since).ok(),
            last: None,
            sorted: true,
            older: false,
        }
    }

    /// Notes the next entry's instant.
    fn see(&mut self, at: DateTime<FixedOffset>) {
        self.sorted &= self.last.is_none_or(|last| at <= last);
        self.older |= self.is_before(at);
        self.last = Some(at);
    }

    /// Whether `at` is strictly before the cursor: read by an earlier read (the cursor is
    /// inclusive, so an entry at the cursor's very instant may be new and is kept).
    fn is_before(&self, at: DateTime<FixedOffset>) -> bool {
        self.since.is_some_and(|since| at < since)
    }

    /// Whether the rest of the history is older than the cursor: an older entry was read,
    /// and the server has listed newest first so far (otherwise the read goes on to the end,
    /// as a server out of order could still list a newer entry later).
    fn is_past_cursor(&self) -> bool {
        self.sorted && self.older
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(text).unwrap()
    }

    #[test]
    fn a_read_newest_first_is_past_the_cursor_at_its_first_older_entry() {
        let mut descent = Descent::from("2026-11-26T04:14:11.323Z");
        descent.see(at("2026-11-26T04:15:00Z"));
        descent.see(at("2026-11-26T04:14:11.323Z"));
        assert!(
            !descent.is_past_cursor(),
            "an entry at the cursor may be new"
        );
        descent.see(at("2026-11-26T04:14:11.322Z"));
        assert!(descent.is_past_cursor());
    }

    #[test]
    fn a_read_out_of_order_goes_on_to_the_end() {
        let mut descent = Descent::from("2026-11-26T04:14:11Z");
        descent.see(at("2026-11-26T04:14:00Z"));
        descent.see(at("2026-11-26T04:15:00Z"));
        assert!(!descent.is_past_cursor());
        let mut unparsed = Descent::from("not an instant");
        unparsed.see(at("1970-01-01T00:00:00Z"));
        assert!(!unparsed.is_past_cursor());
    }
}
