//! What differs between the source kinds, and the semantic checks of a `source = "fhir"`
//! connection: its window, its resource types, their search parameters and reference paths,
//! and the changes-feed keys it must not have.

use std::collections::BTreeSet;

use chrono::DateTime;

use super::bounds::Max;
use super::changes::CheckedFeed;
use super::locate::KeyPath;
use super::raw::{RawConnection, RawFhirResource};
use super::validate::Checker;
use super::{FhirResource, FhirSource, Initial, ReferencePath, SourceKind};

/// Default `lag_secs`: long enough for the usual write transaction to commit.
const DEFAULT_LAG_SECS: f64 = 5.0;
/// A lag over an hour would make every notification an hour late.
const LAG_SECS_AT_MOST: Max = Max::secs(3_600, "1 hour");
/// Default `page_size` (`_count`), a size most FHIR servers accept.
const DEFAULT_PAGE_SIZE: i64 = 100;
/// Servers cap `_count` far below this; each page is held in memory.
const PAGE_SIZE_AT_MOST: u32 = 10_000;
/// Where a brand-new connection starts when `initial_since` is not set: everything.
const DEFAULT_INITIAL_SINCE: &str = "1970-01-01T00:00:00Z";
/// Search parameters Courier sets itself; a resource's `params` must not repeat them.
const RESERVED_PARAMS: [&str; 4] = ["_lastUpdated", "_sort", "_count", "_since"];

/// What differs between the source kinds, checked.
pub(super) enum Flavour {
    /// A changes feed's checked keys.
    Changes(CheckedFeed),
    /// A FHIR server's settings.
    Fhir(FhirSource),
    /// A snapshot source's settings, but its enrichment steps (checked with the others).
    Snapshot(super::snapshot::CheckedSnapshot),
    /// A consume-once feed's settings, but its enrichment steps.
    ConsumeOnce(super::consume::CheckedConsumeOnce),
}

/// Checks the keys of the connection's source kind, and refuses the other kind's keys.
pub(super) fn flavour(
    check: &mut Checker<'_>,
    path: &KeyPath,
    source: Option<SourceKind>,
    raw: &RawConnection,
) -> Option<Flavour> {
    match source? {
        SourceKind::Changes => {
            refuse_fhir_keys(check, path, raw);
            super::snapshot::refuse_listing_keys(check, path, raw, "changes");
            let feed = super::changes::feed(check, path, raw);
            let cursor_from = super::cursor::cursor_from(check, path, raw);
            // A changes feed notifies its backlog unless told otherwise, as it always did.
            let initial = match raw.initial.as_deref() {
                None => Some(Initial::Notify),
                text => super::snapshot::initial(check, &path.key("initial"), text),
            };
            let (page_size, event_type) = feed?;
            Some(Flavour::Changes(CheckedFeed {
                page_size,
                event_type,
                cursor_from: cursor_from?,
                initial: initial?,
            }))
        }
        SourceKind::Fhir => fhir(check, path, raw).map(Flavour::Fhir),
        SourceKind::Snapshot => super::snapshot::check(check, path, raw).map(Flavour::Snapshot),
        SourceKind::ConsumeOnce => {
            super::consume::check(check, path, raw).map(Flavour::ConsumeOnce)
        }
    }
}

/// Checks a FHIR connection's own keys; `None` once something was reported.
fn fhir(check: &mut Checker<'_>, path: &KeyPath, raw: &RawConnection) -> Option<FhirSource> {
    refuse_feed_keys(check, path, raw);
    super::snapshot::refuse_listing_keys(check, path, raw, "fhir");
    if raw.initial.is_some() {
        let message = "not with source = \"fhir\": set initial in a [[resources]] table (each \
                       type starts on its own), or initial_since";
        check.report(&path.key("initial"), message);
    }
    let lag = check.delay_secs(
        &path.key("lag_secs"),
        raw.lag_secs.unwrap_or(DEFAULT_LAG_SECS),
        LAG_SECS_AT_MOST,
    );
    let page_size = check.count(
        &path.key("page_size"),
        raw.page_size,
        DEFAULT_PAGE_SIZE,
        PAGE_SIZE_AT_MOST,
    );
    let since = raw
        .initial_since
        .as_deref()
        .unwrap_or(DEFAULT_INITIAL_SINCE);
    let initial_since = match DateTime::parse_from_rfc3339(since) {
        Ok(_) => Some(since.to_owned()),
        Err(e) => {
            let message =
                format!("must be an RFC 3339 time with a zone, such as 2026-11-01T00:00:00Z ({e})");
            check.report(&path.key("initial_since"), message);
            None
        }
    };
    let resources = resources(check, &path.key("resources"), &raw.resources);
    refuse_two_starts(check, path, raw);
    Some(FhirSource {
        lag: lag?,
        initial_since: initial_since?,
        resources: resources?,
        page_size: page_size?,
    })
}

/// Refuses `initial` on a `_lastUpdated` type together with `initial_since`: each says
/// where a new type starts, and they disagree.
fn refuse_two_starts(check: &mut Checker<'_>, path: &KeyPath, raw: &RawConnection) {
    if raw.initial_since.is_none() {
        return;
    }
    let resources = path.key("resources");
    for (i, resource) in raw.resources.iter().enumerate() {
        let last_updated = matches!(resource.mode.as_deref(), None | Some("last-updated"));
        if last_updated && resource.initial.is_some() {
            let message = "not with initial_since: both say where a new type starts; \
                           keep one";
            check.report(&resources.index(i).key("initial"), message);
        }
    }
}

/// Refuses, for a changes-feed connection, the keys only a FHIR connection has.
fn refuse_fhir_keys(check: &mut Checker<'_>, path: &KeyPath, raw: &RawConnection) {
    let keys = [
        ("initial_since", raw.initial_since.is_some()),
        ("resources", !raw.resources.is_empty()),
    ];
    for (key, _) in keys.iter().filter(|(_, set)| *set) {
        check.report(&path.key(key), "only applies with source = \"fhir\"");
    }
}

fn refuse_feed_keys(check: &mut Checker<'_>, path: &KeyPath, raw: &RawConnection) {
    let keys = [
        ("changes_path", raw.changes_path.is_some()),
        ("since_param", raw.since_param.is_some()),
        ("initial_cursor", raw.initial_cursor.is_some()),
        ("page_size_param", raw.page_size_param.is_some()),
        ("items_pointer", raw.items_pointer.is_some()),
        ("key_pointer", raw.key_pointer.is_some()),
        ("version_pointer", raw.version_pointer.is_some()),
        ("cursor_pointer", raw.cursor_pointer.is_some()),
        ("cursor_from", raw.cursor_from.is_some()),
        ("max_clock_skew_secs", raw.max_clock_skew_secs.is_some()),
        ("event_type", raw.event_type.is_some()),
        ("enrich", !raw.enrich.is_empty()),
    ];
    for (key, _) in keys.iter().filter(|(_, set)| *set) {
        let message = match *key {
            "enrich" => "not with source = \"fhir\" (use enrich = [...] in a [[resources]] table)",
            "event_type" => "not with source = \"fhir\" (event types come from the resource type)",
            _ => "only applies with source = \"changes\"",
        };
        check.report(&path.key(key), message);
    }
}

fn resources(
    check: &mut Checker<'_>,
    path: &KeyPath,
    raw: &[RawFhirResource],
) -> Option<Vec<FhirResource>> {
    if raw.is_empty() {
        check.report(
            path,
            "at least one [[resources]] table is required with source = \"fhir\"",
        );
        return None;
    }
    let mut seen = BTreeSet::new();
    let checked: Vec<Option<FhirResource>> = raw
        .iter()
        .enumerate()
        .map(|(i, resource)| {
            let at = path.index(i);
            if !seen.insert(resource.kind.as_str()) {
                let message = format!("type \"{}\" is listed twice", resource.kind);
                check.report(&at.key("type"), message);
            }
            one_resource(check, &at, resource)
        })
        .collect();
    checked.into_iter().collect()
}

fn one_resource(
    check: &mut Checker<'_>,
    path: &KeyPath,
    raw: &RawFhirResource,
) -> Option<FhirResource> {
    let type_ok = is_type_name(&raw.kind);
    if !type_ok {
        check.report(
            &path.key("type"),
            "must be a FHIR resource type name, such as \"Appointment\"",
        );
    }
    let params = params(
        check,
        &path.key("params"),
        raw.params.as_deref().unwrap_or(""),
    );
    let enrich: Vec<Option<ReferencePath>> = raw
        .enrich
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let parsed = ReferencePath::parse(text);
            if parsed.is_none() {
                let message = "must be a dotted element path with an optional target type, such as \"participant.actor:Patient\"";
                check.report(&path.key("enrich").index(i), message);
            }
            parsed
        })
        .collect();
    let enrich: Option<Vec<ReferencePath>> = enrich.into_iter().collect();
    (type_ok).then_some(())?;
    Some(FhirResource {
        type_name: raw.kind.clone(),
        params: params?,
        enrich: enrich?,
        deletes: raw.deletes,
        mode: super::snapshot::fhir_mode(check, path, raw)?,
    })
}

/// Extra search parameters, as a query string; the paging ones are Courier's.
fn params(check: &mut Checker<'_>, path: &KeyPath, text: &str) -> Option<Vec<(String, String)>> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(text.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if let Some((name, _)) = pairs
        .iter()
        .find(|(k, _)| RESERVED_PARAMS.contains(&k.as_str()))
    {
        let message = format!(
            "must not set {name}: Courier sets _lastUpdated, _sort and _count to page without gaps"
        );
        check.report(path, message);
        return None;
    }
    if pairs.iter().any(|(k, _)| k.is_empty()) {
        check.report(
            path,
            "must be a query string such as \"status=booked,cancelled\"",
        );
        return None;
    }
    Some(pairs)
}

/// A FHIR resource type name: an upper-case letter, then letters. Shared with reference
/// resolution, which must not build a path from anything else.
pub fn is_type_name(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase()) && chars.all(|c| c.is_ascii_alphabetic())
}
