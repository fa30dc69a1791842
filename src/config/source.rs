//! What a connection polls: the source kinds, and the settings each kind has alone (a
//! changes feed's path and pointers, a FHIR server's resource types), typed where they
//! belong so no code reads a key its source does not have.

use std::time::Duration;

use super::changes::{DEFAULT_INITIAL_CURSOR, DEFAULT_SINCE_PARAM};
use super::cursor::DEFAULT_MAX_CLOCK_SKEW;
use crate::template::Template;
use crate::window::{TimeTemplate, Window};

/// Which kind of "what changed" API a connection polls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// A vendor "changed records" endpoint returning a JSON array of change items.
    Changes,
    /// A FHIR R4 server searched by `_lastUpdated` (see [`FhirSource`]).
    Fhir,
    /// A list of the records in a time window, compared with the last listing (see
    /// [`SnapshotSource`]).
    Snapshot,
    /// A feed that hands each change out once and keeps the cursor itself (see
    /// [`ConsumeOnceSource`]).
    ConsumeOnce,
}

/// `source` and the keys of that source: a connection is one or the other, never both.
#[derive(Debug, Clone)]
pub enum Source {
    /// `source = "changes"`: a vendor changes feed (boxed: its many keys would otherwise size
    /// every `Source` like the largest).
    Changes(Box<ChangesSource>),
    /// `source = "fhir"`: a FHIR R4 server.
    Fhir(FhirSource),
    /// `source = "snapshot"`: a listing of a time window, diffed against the last one.
    Snapshot(Box<SnapshotSource>),
    /// `source = "consume-once"`: a feed whose reads mark what they return as processed.
    ConsumeOnce(Box<ConsumeOnceSource>),
}

impl Source {
    /// Which kind of source this is.
    pub fn kind(&self) -> SourceKind {
        match self {
            Source::Changes(_) => SourceKind::Changes,
            Source::Fhir(_) => SourceKind::Fhir,
            Source::Snapshot(_) => SourceKind::Snapshot,
            Source::ConsumeOnce(_) => SourceKind::ConsumeOnce,
        }
    }

    /// The changes-feed settings, when this is a changes feed.
    pub fn changes(&self) -> Option<&ChangesSource> {
        match self {
            Source::Changes(feed) => Some(feed),
            _ => None,
        }
    }

    /// The FHIR settings, when this is a FHIR server.
    pub fn fhir(&self) -> Option<&FhirSource> {
        match self {
            Source::Fhir(fhir) => Some(fhir),
            _ => None,
        }
    }

    /// The page size the poll loop starts from (a changes feed's, which it widens while
    /// items share one position; a FHIR search's `_count`); `None` for a feed that does not
    /// page.
    pub fn page_size(&self) -> Option<usize> {
        match self {
            Source::Changes(feed) => feed.page_size,
            Source::Fhir(fhir) => Some(fhir.page_size),
            Source::Snapshot(snapshot) => snapshot.paging.page_size(),
            Source::ConsumeOnce(feed) => feed.page_size,
        }
    }

    /// The cursor of the connection's stored state before its first page. A FHIR connection
    /// keeps its positions per resource type, and a snapshot source compares records: their
    /// connection-wide cursor only anchors the state (and its sequence numbers), at a changes
    /// feed's default. A consume-once feed's cursor is the time of its last commit.
    pub fn initial_cursor(&self) -> &str {
        match self {
            Source::Changes(feed) => &feed.initial_cursor,
            _ => DEFAULT_INITIAL_CURSOR,
        }
    }

    /// The detail requests made for every change (FHIR sources follow references instead).
    pub fn enrich_steps(&self) -> &[EnrichStep] {
        match self {
            Source::Changes(feed) => &feed.enrich,
            Source::Fhir(_) => &[],
            Source::Snapshot(snapshot) => &snapshot.enrich,
            Source::ConsumeOnce(feed) => &feed.enrich,
        }
    }
}

/// The settings only a `source = "changes"` connection has.
#[derive(Debug, Clone)]
pub struct ChangesSource {
    /// Path of the changes feed, appended to `base_url`.
    pub changes_path: String,
    /// Query parameter that carries the cursor.
    pub since_param: String,
    /// Cursor a brand-new connection starts from.
    pub initial_cursor: String,
    /// Query parameter that carries the page size, when the feed pages.
    pub page_size_param: Option<String>,
    /// Items per page, 1 to 100 000, when the feed pages; a full page is followed at once by
    /// the next.
    pub page_size: Option<usize>,
    /// JSON pointer to the array of items ("" = the body is the array).
    pub items_pointer: String,
    /// JSON pointer to the changed record's identifier within an item.
    pub key_pointer: String,
    /// JSON pointer to the record's version within an item; defaults to the item's cursor value.
    pub version_pointer: Option<String>,
    /// JSON pointer to the item's position in the feed (a number or RFC 3339 time); always
    /// set when `cursor_from` is `Items`.
    pub cursor_pointer: Option<String>,
    /// Where the cursor comes from.
    pub cursor_from: CursorFrom,
    /// How far ahead of Courier's clock an item's time position or the EHR's `Date` may be
    /// (clocks drift): a page beyond it is refused, so a time cursor never passes Courier's
    /// clock plus this, where every later change would be behind it. 1 s to 1 day.
    pub max_clock_skew: Duration,
    /// `type` of the notifications this connection emits: a name, or a template filled from
    /// each change item (`appointment.{/action}`) when the poll reads it.
    pub event_type: Template,
    /// Detail requests made for every change, in order.
    pub enrich: Vec<EnrichStep>,
    /// What the first poll does with the feed's backlog: notify every change from
    /// `initial_cursor` (`"notify"`, the default), or page through it to the end notifying
    /// nothing (`"baseline"`), so a new connection only reports what changes from now on.
    pub initial: Initial,
}

impl ChangesSource {
    /// A feed at `changes_path` whose items carry their key at `key_pointer` and their
    /// position at `cursor_pointer`, emitting `event_type`: the keys a configuration file
    /// must write, every other key at the default the file gets when it leaves the key out.
    /// For code that builds a connection without a file (tests, fuzz targets).
    pub fn new(
        changes_path: &str,
        key_pointer: &str,
        cursor_pointer: &str,
        event_type: &str,
    ) -> Self {
        Self {
            changes_path: changes_path.to_owned(),
            since_param: DEFAULT_SINCE_PARAM.to_owned(),
            initial_cursor: DEFAULT_INITIAL_CURSOR.to_owned(),
            page_size_param: None,
            page_size: None,
            items_pointer: String::new(),
            key_pointer: key_pointer.to_owned(),
            version_pointer: None,
            cursor_pointer: Some(cursor_pointer.to_owned()),
            cursor_from: CursorFrom::Items,
            max_clock_skew: DEFAULT_MAX_CLOCK_SKEW,
            event_type: Template::literal(event_type),
            enrich: Vec::new(),
            initial: Initial::Notify,
        }
    }
}

/// The settings only a `source = "fhir"` connection has.
#[derive(Debug, Clone)]
pub struct FhirSource {
    /// How far behind the server's clock (its `Date` header) each search stops, so that a
    /// write committed late with an earlier `lastUpdated` is still ahead of the cursor.
    pub lag: Duration,
    /// The `lastUpdated` a brand-new connection starts from (RFC 3339, as configured).
    pub initial_since: String,
    /// The resource types polled, each with its own cursor.
    pub resources: Vec<FhirResource>,
    /// `_count` of each search, 1 to 10 000.
    pub page_size: usize,
}

/// `[[connections.<id>.resources]]`: one polled resource type.
#[derive(Debug, Clone)]
pub struct FhirResource {
    /// The resource type, such as `Appointment`.
    pub type_name: String,
    /// Extra search parameters passed through, in order.
    pub params: Vec<(String, String)>,
    /// References followed to fetch related resources for each notification.
    pub enrich: Vec<ReferencePath>,
    /// Whether `{type}/_history` is read for deletions.
    pub deletes: bool,
    /// How changes are found: by `_lastUpdated`, or by comparing a window search's listings.
    pub mode: FhirMode,
}

/// How a FHIR resource type's changes are found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FhirMode {
    /// `mode = "last-updated"` (the default): a `_lastUpdated` search from a cursor.
    LastUpdated {
        /// `initial = "baseline"`: a type with no stored cursor starts at the server's clock
        /// (its `Date` minus the lag) instead of `initial_since`, so a new connection notifies
        /// nothing of what the server already had. `initial = "notify"` (or no `initial`)
        /// starts from `initial_since`.
        baseline: bool,
    },
    /// `mode = "snapshot"`: for servers without `_lastUpdated`, the type is searched over a
    /// window (its `params` hold the time expressions, such as
    /// `date=ge{today-1d}&date=le{today+14d}`) and each listing is compared with the last.
    Snapshot(FhirWindow),
}

/// The window search of a `mode = "snapshot"` resource type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FhirWindow {
    /// `params` with their time expressions, rendered at each listing.
    pub query: TimeTemplate,
    /// The span the search covers (`window_start`, `window_end`), to tell a removal from a
    /// resource whose date left the window.
    pub window: Window,
    /// The element that dates a resource inside the window (`date_pointer`, default
    /// `/start`, an appointment's).
    pub date_pointer: String,
    /// What the first listing notifies.
    pub initial: Initial,
}

/// What a source's first look at an EHR notifies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Initial {
    /// `initial = "baseline"`: record what is there, notify nothing, so a new connection does
    /// not flood its receiver with the whole schedule.
    #[default]
    Baseline,
    /// `initial = "notify"`: every record found as `created`, with `data.backfill = true`.
    Notify,
}

/// The settings only a `source = "snapshot"` connection has.
#[derive(Debug, Clone)]
pub struct SnapshotSource {
    /// `list_path`: the listing's path, appended to `base_url`.
    pub list_path: String,
    /// `list_query`: the listing's query, with time expressions.
    pub list_query: TimeTemplate,
    /// `date_format`: how the query's expressions are written (chrono strftime); `None` for
    /// each expression's default (see [`crate::window`]).
    pub date_format: Option<String>,
    /// `window_start`, `window_end`: the span the listing covers.
    pub window: Window,
    /// `date_pointer`: the record's date inside the window (RFC 3339 or `YYYY-MM-DD`).
    pub date_pointer: String,
    /// `items_pointer`: the array of records in a page ("" = the body is the array).
    pub items_pointer: String,
    /// `key_pointer`: the record's identifier.
    pub key_pointer: String,
    /// `compare`: the JSON pointers whose values make a record's fingerprint; empty compares
    /// the whole record (canonical JSON).
    pub compare: Vec<String>,
    /// How the listing pages.
    pub paging: Paging,
    /// `total_pointer`: the number of records the EHR says the window holds; a listing that
    /// found another number is inconsistent and removes nothing.
    pub total_pointer: Option<String>,
    /// `confirm_path`: a record's own path, such as `/appointments/{/key}` (`{/key}` is the
    /// record's key, its only placeholder: nothing else of a record is kept), read before a
    /// removal is notified: 404/410 makes it `deleted`, a record still there is compared
    /// instead.
    pub confirm_path: Option<Template>,
    /// What the first listing notifies.
    pub initial: Initial,
    /// `event_prefix`: notifications are `{prefix}.created`, `.updated`, `.removed` and
    /// `.deleted`.
    pub event_prefix: String,
    /// Detail requests made for every change (not for a removal: the record is gone).
    pub enrich: Vec<EnrichStep>,
}

/// How a listing is paged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Paging {
    /// One request answers the whole window.
    Single,
    /// `next_pointer`: each page names the next one (a URL under `base_url`, or a path);
    /// absent, `null` or `""` ends the listing.
    Link {
        /// Where the next page's link is in a page.
        next_pointer: String,
    },
    /// `offset_param`, `page_size_param`, `page_size`: pages by item offset; a page with
    /// fewer than `page_size` records ends the listing.
    Offset {
        /// The query parameter of the first record's offset (0-based).
        offset_param: String,
        /// The query parameter of the page size.
        size_param: String,
        /// Records per page.
        size: usize,
    },
}

impl Paging {
    /// The page size asked for, when the listing pages by offset.
    pub fn page_size(&self) -> Option<usize> {
        match self {
            Paging::Offset { size, .. } => Some(*size),
            _ => None,
        }
    }
}

/// The settings only a `source = "consume-once"` connection has.
#[derive(Debug, Clone)]
pub struct ConsumeOnceSource {
    /// `changes_path`: the feed; each GET returns changes and marks them processed.
    pub changes_path: String,
    /// `page_size_param`, `page_size`: how many changes one GET may return.
    pub page_size_param: Option<String>,
    /// See `page_size_param`.
    pub page_size: Option<usize>,
    /// `items_pointer`: the array of changes ("" = the body is the array).
    pub items_pointer: String,
    /// `key_pointer`: the changed record's identifier.
    pub key_pointer: String,
    /// `version_pointer`: which change of the record this is; with the key, what a re-read
    /// drops as already stored. `None`: a hash of the whole change item.
    pub version_pointer: Option<String>,
    /// `type` of the notifications: a name, or a template filled from each change item, as
    /// a changes feed's.
    pub event_type: Template,
    /// The EHR's re-read window, for a crash between a GET and its commit; `None` when the
    /// EHR has none (`courier check` warns: such a crash loses that page).
    pub recovery: Option<Recovery>,
    /// Detail requests made for every change.
    pub enrich: Vec<EnrichStep>,
}

/// `[connections.<id>.recovery]`: how to re-read what the EHR already marked processed.
#[derive(Debug, Clone)]
pub struct Recovery {
    /// `start_param`: the query parameter of the window's start (processed at or after).
    pub start_param: String,
    /// `end_param`: the query parameter of the window's end.
    pub end_param: String,
    /// `time_format`: how both are written (chrono strftime, UTC).
    pub time_format: String,
    /// `margin_secs`: how far before the last commit the re-read starts, for clocks that
    /// drift between Courier and the EHR.
    pub margin: Duration,
    /// `params`: fixed query parameters of a re-read (such as `leaveunprocessed=true`).
    pub params: Vec<(String, String)>,
    /// `offset_param`: how a re-read pages when one second of processing holds more than
    /// `page_size` changes (a window is split in halves down to one second first); `None`
    /// when the EHR cannot page its re-reads (then such a second is an error).
    pub offset_param: Option<String>,
}

/// `participant.actor:Patient`: a dotted element path ending at a Reference (arrays are
/// walked through), and the type of the targets to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferencePath {
    /// Element names from the resource's root.
    pub elements: Vec<String>,
    /// Only references to this type are followed; `None` follows every target.
    pub target: Option<String>,
}

impl ReferencePath {
    /// Parses `a.b.c` or `a.b.c:Type`; `None` when it is not of that form.
    pub fn parse(text: &str) -> Option<Self> {
        let (path, target) = match text.split_once(':') {
            Some((path, target)) => (path, Some(target)),
            None => (text, None),
        };
        let elements: Vec<String> = path.split('.').map(str::to_owned).collect();
        let element_ok = |e: &String| {
            e.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && e.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        if !elements.iter().all(element_ok) || target.is_some_and(|t| !super::fhir::is_type_name(t))
        {
            return None;
        }
        Some(Self {
            elements,
            target: target.map(str::to_owned),
        })
    }
}

/// Where a connection's cursor comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CursorFrom {
    /// The largest `cursor_pointer` position among the items taken.
    Items,
    /// The EHR's `Date` header at the poll, minus `lag`: for feeds whose items carry no
    /// usable position. The lag leaves room for changes committed late with an earlier time.
    DateHeader {
        /// How far behind the EHR's clock the cursor stays.
        lag: Duration,
    },
}

/// `[[connections.<id>.enrich]]`: one detail request.
#[derive(Debug, Clone)]
pub struct EnrichStep {
    /// Name under which the fetched resource appears in `data.resources`.
    pub name: String,
    /// Path template appended to `base_url`.
    pub path: Template,
    /// When true, a change whose item lacks a placeholder's value skips this step instead of
    /// failing the page.
    pub optional: bool,
}
