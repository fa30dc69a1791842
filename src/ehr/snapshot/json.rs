//! The lister of a `source = "snapshot"` connection: a JSON list endpoint, paged by offset,
//! by a link in each page or not at all, whose records are found by JSON pointers.
//!
//! A page with one unusable record (no key, a key that is not a string or number, no date
//! that parses) is refused whole, naming the record's index and key but never its content:
//! a listing that skipped it would later take its absence for a removal.

use chrono::{DateTime, NaiveDate, Utc};
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use serde_json::{json, Map, Value};

use super::diff::{Confirmed, Event, Events, PrefixEvents};
use super::listing::{ListedPage, Lister, Position};
use super::Listed;
use crate::config::{Initial, Paging, SnapshotSource};
use crate::ehr::{EhrClient, EhrError};
use crate::fhir::events::Fingerprint;
use crate::model::FhirContext;
use crate::window::Window;

/// Bytes a rendered query may not carry as they are: a `date_format` may write spaces, and
/// a literal `#` would end the URL. `&`, `=` and `%` are the template author's own.
const QUERY_ESCAPES: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'`');

/// Reads a snapshot connection's window from its JSON list endpoint.
pub struct JsonLister {
    /// The connection's snapshot settings.
    source: SnapshotSource,
    /// `base_url` without its trailing slash: a next link must be under it.
    base_url: String,
    /// `base_url`'s path without its trailing slash (`/api`; empty at the host's root).
    base_path: String,
    /// `{event_prefix}.created` and its siblings.
    events: NamedEvents,
}

impl JsonLister {
    /// The lister of `source`, whose connection's EHR is at `base_url`.
    pub fn new(source: SnapshotSource, base_url: &url::Url) -> Self {
        let events = NamedEvents(source.event_prefix.clone());
        Self {
            source,
            base_url: base_url.as_str().trim_end_matches('/').to_owned(),
            base_path: base_url.path().trim_end_matches('/').to_owned(),
            events,
        }
    }

    /// The request of the page at `position`: its path (with the query) and paging params.
    fn request(&self, query: &str, position: &Position) -> (String, Vec<(String, String)>) {
        let first = match query.is_empty() {
            true => self.source.list_path.clone(),
            false => format!("{}?{query}", self.source.list_path),
        };
        match (position, &self.source.paging) {
            (Position::Link(path), _) => (path.clone(), Vec::new()),
            (
                position,
                Paging::Offset {
                    offset_param,
                    size_param,
                    size,
                },
            ) => {
                let offset = match position {
                    Position::Offset(offset) => *offset,
                    _ => 0,
                };
                let params = vec![
                    (offset_param.clone(), offset.to_string()),
                    (size_param.clone(), size.to_string()),
                ];
                (first, params)
            }
            _ => (first, Vec::new()),
        }
    }

    /// Where the page after one of `count` records at `position` is, if there is one;
    /// `link` is what the page holds at `next_pointer`.
    fn next(
        &self,
        path: &str,
        link: Option<Value>,
        position: &Position,
        count: usize,
    ) -> Result<Option<Position>, EhrError> {
        match &self.source.paging {
            Paging::Single => Ok(None),
            Paging::Offset { size, .. } => {
                let offset = match position {
                    Position::Offset(offset) => *offset,
                    _ => 0,
                };
                Ok((count >= *size).then_some(Position::Offset(offset + count)))
            }
            Paging::Link { next_pointer } => match link {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(link)) if link.is_empty() => Ok(None),
                Some(Value::String(link)) => {
                    self.follow(path, &link).map(|p| Some(Position::Link(p)))
                }
                Some(_) => Err(shape(path, format!("{next_pointer} is not a string"))),
            },
        }
    }

    /// A next link as a path under `base_url`: an absolute URL must be under it (a link
    /// elsewhere would send the EHR's credentials to another server). A path is read as the
    /// web reads it, from the host, when it starts with `base_url`'s own path (`/api/…` under
    /// `https://ehr/api`); any other path is appended to `base_url`, as `list_path` is.
    fn follow(&self, path: &str, link: &str) -> Result<String, EhrError> {
        let under = |rest: &str| rest.starts_with(['/', '?']).then(|| rest.to_owned());
        let found = match link.strip_prefix(&self.base_url) {
            Some(rest) => under(rest),
            None if link.starts_with('/') && !link.starts_with("//") => {
                let from_host = link.strip_prefix(&self.base_path).and_then(under);
                from_host.or_else(|| Some(link.to_owned()))
            }
            None => None,
        };
        found.ok_or_else(|| shape(path, "the next link is not under base_url".to_owned()))
    }

    /// The total the page gives for the window, when `total_pointer` is set and present.
    fn total(&self, path: &str, body: &Value) -> Result<Option<u64>, EhrError> {
        let Some(pointer) = &self.source.total_pointer else {
            return Ok(None);
        };
        match body.pointer(pointer) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => value
                .as_u64()
                .map(Some)
                .ok_or_else(|| shape(path, format!("{pointer} is not a whole number"))),
        }
    }

    /// One record as listed, or why it cannot be (its index and key, never its content).
    fn listed(&self, path: &str, index: usize, record: Value) -> Result<Listed, EhrError> {
        let source = &self.source;
        let key = record_key(&record, &source.key_pointer)
            .map_err(|why| shape(path, format!("record {index}: {why}")))?;
        let date = record
            .pointer(&source.date_pointer)
            .and_then(Value::as_str)
            .and_then(unix_date)
            .ok_or_else(|| {
                let why = format!(
                    "record {index} (key {}): no RFC 3339 instant or YYYY-MM-DD date at {}",
                    crate::escape::escaped(&key),
                    source.date_pointer
                );
                shape(path, why)
            })?;
        let fingerprint = match source.compare.is_empty() {
            true => Fingerprint::of_record(&record),
            false => Fingerprint::of_pointers(&record, &source.compare),
        };
        Ok(Listed {
            key,
            date,
            fingerprint,
            record,
        })
    }

    /// The records of a page's body at `items_pointer`, each made a [`Listed`].
    fn records(&self, path: &str, body: &mut Value) -> Result<Vec<Listed>, EhrError> {
        let pointer = &self.source.items_pointer;
        let items = match body.pointer_mut(pointer) {
            Some(Value::Array(items)) => std::mem::take(items),
            _ => return Err(shape(path, format!("no array at {pointer:?}"))),
        };
        items
            .into_iter()
            .enumerate()
            .map(|(index, record)| self.listed(path, index, record))
            .collect()
    }
}

impl Lister for JsonLister {
    fn scope(&self) -> &str {
        // One listing per connection: its records need no scope of their own.
        ""
    }

    fn window(&self) -> Window {
        self.source.window
    }

    fn initial(&self) -> Initial {
        self.source.initial
    }

    fn events(&self) -> &dyn Events {
        &self.events
    }

    fn query(&self, now: DateTime<Utc>) -> String {
        let rendered = self
            .source
            .list_query
            .render(now, self.source.date_format.as_deref());
        utf8_percent_encode(&rendered, QUERY_ESCAPES).to_string()
    }

    async fn page(
        &self,
        client: &EhrClient,
        query: &str,
        position: &Position,
    ) -> Result<ListedPage, EhrError> {
        let (path, params) = self.request(query, position);
        let params: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let mut body = client.get_json(&path, &params).await?.body;
        let total = self.total(&path, &body)?;
        let link = match &self.source.paging {
            Paging::Link { next_pointer } => body.pointer(next_pointer).cloned(),
            _ => None,
        };
        let records = self.records(&path, &mut body)?;
        let next = self.next(&path, link, position, records.len())?;
        Ok(ListedPage {
            records,
            next,
            total,
        })
    }

    async fn confirm(&self, client: &EhrClient, key: &str) -> Result<Confirmed, EhrError> {
        let Some(template) = &self.source.confirm_path else {
            return Ok(Confirmed::Unread);
        };
        let path = template
            .render(&json!({ "key": key }), &Map::new())
            .map_err(|e| shape("confirm_path", e.to_string()))?;
        match client.get_json(&path, &[]).await {
            Ok(response) => {
                let listed = self.listed(&path, 0, response.body)?;
                // The record read by its key is that key's, whatever else it calls itself.
                let key = key.to_owned();
                Ok(Confirmed::Present(Listed { key, ..listed }))
            }
            Err(e) if e.is_not_found() => Ok(Confirmed::Gone),
            Err(e) => Err(e),
        }
    }
}

/// A record's key: a non-empty string or a number at `pointer`, without NUL (keys are
/// stored joined by NUL).
fn record_key(record: &Value, pointer: &str) -> Result<String, String> {
    let key = match record.pointer(pointer) {
        Some(Value::String(key)) => key.clone(),
        Some(Value::Number(number)) => number.to_string(),
        Some(_) => return Err(format!("the key at {pointer} is not a string or number")),
        None => return Err(format!("no key at {pointer}")),
    };
    if key.is_empty() {
        return Err(format!("the key at {pointer} is empty"));
    }
    if key.contains('\0') {
        return Err(format!("the key at {pointer} holds a NUL character"));
    }
    Ok(key)
}

/// An RFC 3339 instant or a `YYYY-MM-DD` date (midnight UTC), as Unix seconds.
fn unix_date(text: &str) -> Option<i64> {
    if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
        return Some(instant.timestamp());
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp())
}

/// A shape error of the answer of `path`.
fn shape(path: &str, reason: String) -> EhrError {
    EhrError::Shape {
        path: path.to_owned(),
        reason,
    }
}

/// [`PrefixEvents`] owning its prefix, so a lister can hand out `&dyn Events`.
struct NamedEvents(String);

impl NamedEvents {
    fn prefix(&self) -> PrefixEvents<'_> {
        PrefixEvents { prefix: &self.0 }
    }
}

impl Events for NamedEvents {
    fn created(&self, current: &Fingerprint) -> Event {
        self.prefix().created(current)
    }

    fn updated(&self, previous: &Fingerprint, current: &Fingerprint) -> Event {
        self.prefix().updated(previous, current)
    }

    fn removed(&self, previous: &Fingerprint) -> Event {
        self.prefix().removed(previous)
    }

    fn deleted(&self, previous: &Fingerprint) -> Event {
        self.prefix().deleted(previous)
    }

    fn fhir(&self, key: &str, event: &Event) -> Option<FhirContext> {
        self.prefix().fhir(key, event)
    }
}

#[cfg(test)]
mod tests;
