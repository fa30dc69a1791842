//! One `_lastUpdated` search page of one resource type, paged by keyset: each page is a fresh
//! query from the last `meta.lastUpdated` taken, never an offset, so a resource updated while
//! Courier pages cannot shift another out of sight.

use chrono::{DateTime, SecondsFormat, Utc};

use super::bundle::{self, BundleKind, Found};
use super::take::Taker;
use super::{Ctx, Step};
use crate::config::FhirResource;
use crate::ehr::poll::PollError;
use crate::ehr::EhrError;
use crate::store::fhir::{FhirCursor, Track};

/// An instant shared by more versions than a page holds is read with a page this many times
/// larger before falling back to the server's links.
const INSTANT_WIDENING: usize = 16;

/// Reads and commits the next search page of `resource`.
pub(super) async fn search_page(ctx: &Ctx<'_>, resource: &FhirResource) -> Result<Step, PollError> {
    let type_name = &resource.type_name;
    let cursor = ctx.cursor(type_name, Track::Search).await?;
    let upper = ctx.clock.upper(ctx.fhir.lag);
    let lower = format!("{}{}", if cursor.past { "gt" } else { "ge" }, cursor.since);
    let page = search(ctx, resource, &lower, &instant_text(upper), ctx.page_size).await?;
    let bound = upper.min(page.cap);
    let returned = page.found.len();
    let Plan {
        within,
        included,
        next,
        more,
    } = plan(ctx, resource, page, bound).await?;
    let mut taker = Taker::new(ctx.store, &ctx.config.id, type_name);
    for found in within {
        taker.version(found, &included).await?;
    }
    let taken = taker.finish();
    log::debug!(
        "conn={} {type_name}: {} changes, {} repeats, {} no-op updates",
        ctx.config.id,
        taken.changes.len(),
        taken.repeats,
        taken.no_ops
    );
    let step = ctx
        .commit(type_name, Track::Search, (cursor, next), taken)
        .await?;
    Ok(Step {
        returned,
        more,
        ..step
    })
}

/// What a search page means: the versions to take and where the search goes next.
struct Plan {
    /// The versions up to the bound, in order.
    within: Vec<Found>,
    /// Included resources returned with them.
    included: Vec<serde_json::Value>,
    /// The cursor after the page (before the never-backwards check).
    next: FhirCursor,
    /// Whether more is waiting beyond this page.
    more: bool,
}

/// Decides a page: a page that is not full (or reaches past `bound`) read its window whole,
/// so the cursor goes to `bound`; a full page continues from its last instant (inclusive);
/// a full page at one instant has that instant read whole, and the cursor steps past it.
async fn plan(
    ctx: &Ctx<'_>,
    resource: &FhirResource,
    page: SearchAnswer,
    bound: DateTime<Utc>,
) -> Result<Plan, EhrError> {
    let full = page.found.len() >= ctx.page_size;
    let beyond = page.found.iter().any(|f| f.at > bound);
    let within: Vec<Found> = page.found.into_iter().filter(|f| f.at <= bound).collect();
    let mut included = page.included;
    let cursor = |since: String, past: bool| FhirCursor { since, past };
    let (first, last) = match (within.first(), within.last()) {
        (Some(first), Some(last)) if full && !beyond => (first.at, last.at_text.clone()),
        _ => {
            // Everything up to the bound came back: the window is read whole.
            let next = cursor(instant_text(bound), false);
            return Ok(Plan {
                within,
                included,
                next,
                more: false,
            });
        }
    };
    if within.last().is_some_and(|l| l.at == first) {
        let (all, more_included) = read_instant(ctx, resource, &last).await?;
        included.extend(more_included);
        let next = cursor(last, true);
        return Ok(Plan {
            within: all,
            included,
            next,
            more: true,
        });
    }
    let next = cursor(last, false);
    Ok(Plan {
        within,
        included,
        next,
        more: true,
    })
}

/// A parsed search answer with the bound the server's clock allows.
struct SearchAnswer {
    found: Vec<Found>,
    included: Vec<serde_json::Value>,
    next: Option<String>,
    /// The server's `Date` minus the lag.
    cap: DateTime<Utc>,
}

async fn search(
    ctx: &Ctx<'_>,
    resource: &FhirResource,
    lower: &str,
    upper: &str,
    count: usize,
) -> Result<SearchAnswer, EhrError> {
    let path = format!("/{}", resource.type_name);
    let count = count.to_string();
    let upper = format!("le{upper}");
    let mut query: Vec<(&str, &str)> = vec![
        ("_lastUpdated", lower),
        ("_lastUpdated", &upper),
        ("_sort", "_lastUpdated"),
        ("_count", &count),
    ];
    query.extend(
        resource
            .params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str())),
    );
    let response = ctx.client.get_json(&path, &query).await?;
    let cap = ctx.clock.observe(response.date, ctx.fhir.lag, &path)?;
    let page = bundle::parse(&path, response.body, BundleKind::Searchset)?;
    let found = page
        .entries
        .into_iter()
        .map(|entry| bundle::found(&path, entry, &resource.type_name))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(at) = found.windows(2).position(|w| w[1].at < w[0].at) {
        return Err(EhrError::Shape {
            path,
            reason: format!(
                "match {} is older than match {at}: the server did not sort by _lastUpdated",
                at + 1
            ),
        });
    }
    Ok(SearchAnswer {
        found,
        included: page.included,
        next: page.next,
        cap,
    })
}

/// Every version at one instant: one wider page when the server allows it (one answer, so
/// nothing can shift between pages), else the server's links for that instant, walked twice
/// so a version shifted between two pages of the first walk is found by the second.
async fn read_instant(
    ctx: &Ctx<'_>,
    resource: &FhirResource,
    instant: &str,
) -> Result<(Vec<Found>, Vec<serde_json::Value>), EhrError> {
    let lower = format!("ge{instant}");
    let mut count = ctx.page_size.saturating_mul(2);
    loop {
        let page = search(ctx, resource, &lower, instant, count).await?;
        if page.found.len() < count && page.next.is_none() {
            return Ok((page.found, page.included));
        }
        let capped = page.found.len() < count;
        if capped || count >= ctx.page_size.saturating_mul(INSTANT_WIDENING) {
            let mut found = page.found;
            let mut included = page.included;
            for _ in 0..2 {
                walk(ctx, resource, page.next.clone(), &mut found, &mut included).await?;
            }
            return Ok((found, included));
        }
        count = count.saturating_mul(2);
    }
}

/// Follows `next` links from `first`, adding what they list.
async fn walk(
    ctx: &Ctx<'_>,
    resource: &FhirResource,
    first: Option<String>,
    found: &mut Vec<Found>,
    included: &mut Vec<serde_json::Value>,
) -> Result<(), EhrError> {
    let (mut next, mut pages) = (first, 0);
    while let Some(url) = next {
        let (path, response) = ctx.follow(&url, &mut pages).await?;
        let page = bundle::parse(&path, response.body, BundleKind::Searchset)?;
        for entry in page.entries {
            found.push(bundle::found(&path, entry, &resource.type_name)?);
        }
        included.extend(page.included);
        next = page.next;
    }
    Ok(())
}

/// An instant at full (millisecond) precision with `Z`, as sent in `_lastUpdated`.
pub(super) fn instant_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}
