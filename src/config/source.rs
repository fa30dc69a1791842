//! What a connection polls: the source kinds, and the settings each kind has alone (a
//! changes feed's path and pointers, a FHIR server's resource types), typed where they
//! belong so no code reads a key its source does not have.

use std::time::Duration;

use super::changes::{DEFAULT_INITIAL_CURSOR, DEFAULT_SINCE_PARAM};
use super::cursor::DEFAULT_MAX_CLOCK_SKEW;
use crate::template::Template;

/// Which kind of "what changed" API a connection polls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// A vendor "changed records" endpoint returning a JSON array of change items.
    Changes,
    /// A FHIR R4 server searched by `_lastUpdated` (see [`FhirSource`]).
    Fhir,
}

/// `source` and the keys of that source: a connection is one or the other, never both.
#[derive(Debug, Clone)]
pub enum Source {
    /// `source = "changes"`: a vendor changes feed (boxed: its many keys would otherwise size
    /// every `Source` like the largest).
    Changes(Box<ChangesSource>),
    /// `source = "fhir"`: a FHIR R4 server.
    Fhir(FhirSource),
}

impl Source {
    /// Which kind of source this is.
    pub fn kind(&self) -> SourceKind {
        match self {
            Source::Changes(_) => SourceKind::Changes,
            Source::Fhir(_) => SourceKind::Fhir,
        }
    }

    /// The changes-feed settings, when this is a changes feed.
    pub fn changes(&self) -> Option<&ChangesSource> {
        match self {
            Source::Changes(feed) => Some(feed),
            Source::Fhir(_) => None,
        }
    }

    /// The FHIR settings, when this is a FHIR server.
    pub fn fhir(&self) -> Option<&FhirSource> {
        match self {
            Source::Changes(_) => None,
            Source::Fhir(fhir) => Some(fhir),
        }
    }

    /// The page size the poll loop starts from (a changes feed's, which it widens while
    /// items share one position; a FHIR search's `_count`); `None` for a feed that does not
    /// page.
    pub fn page_size(&self) -> Option<usize> {
        match self {
            Source::Changes(feed) => feed.page_size,
            Source::Fhir(fhir) => Some(fhir.page_size),
        }
    }

    /// The cursor of the connection's stored state before its first page. A FHIR connection
    /// keeps its positions per resource type; its connection-wide cursor only anchors the
    /// state (and its sequence numbers), at a changes feed's default.
    pub fn initial_cursor(&self) -> &str {
        match self {
            Source::Changes(feed) => &feed.initial_cursor,
            Source::Fhir(_) => DEFAULT_INITIAL_CURSOR,
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
    /// `type` of the notifications this connection emits.
    pub event_type: String,
    /// Detail requests made for every change, in order.
    pub enrich: Vec<EnrichStep>,
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
            event_type: event_type.to_owned(),
            enrich: Vec::new(),
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
