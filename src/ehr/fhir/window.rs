//! A FHIR resource type searched over a time window (`mode = "snapshot"`), for servers
//! whose search has no `_lastUpdated` (Epic's Appointment search is by date, patient or
//! location): the [`Lister`] of one type, and its [`Events`], the FHIR semantic ones.
//!
//! A listing is `GET {Type}?{rendered params}&_count={page_size}`, paged by the server's
//! `next` links (only under `base_url`), with the Bundle's `total` when the server gives it.
//! Each match is keyed `Type/id`, dated by `date_pointer` (an instant, a dateTime or a date),
//! and fingerprinted by the FHIR rules ([`Fingerprint::of`]: `meta` and `text` are not
//! content, so a server that bumps `meta.lastUpdated` on every read makes no noise).
//!
//! A resource missing from a complete listing while its date is inside the window is read by
//! id (`GET {Type}/{id}`, which every FHIR server answers): 404 or 410 makes it
//! `{Type}.deleted`; a resource still there is compared like a listed one (an appointment
//! moved out of the window is `Appointment.rescheduled`). As every removal is read, the
//! unconfirmed `removed` of a JSON listing does not occur here; were it asked for, it would
//! be named `{Type}.deleted` too, the only FHIR name for a resource that left.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

use super::bundle::{self, BundleKind};
use super::link_path;
use crate::config::{ConnectionConfig, FhirResource, FhirWindow, Initial};
use crate::ehr::snapshot::diff::{Confirmed, Event, Events};
use crate::ehr::snapshot::listing::{ListedPage, Lister};
use crate::ehr::snapshot::{Listed, Position};
use crate::ehr::{EhrClient, EhrError};
use crate::fhir::events::{classify, Fingerprint};
use crate::fhir::is_fhir_id;
use crate::model::FhirContext;
use crate::window::Window;

/// The window search of one resource type of a FHIR connection.
pub struct WindowLister<'a> {
    /// The connection: its `base_url` bounds the links followed.
    config: &'a ConnectionConfig,
    /// The resource type's settings.
    resource: &'a FhirResource,
    /// Its window search.
    window: &'a FhirWindow,
    /// `_count` of each page.
    page_size: usize,
    /// How its changes are named.
    events: FhirEvents<'a>,
}

impl<'a> WindowLister<'a> {
    /// The lister of `resource`'s `window` search on `config`'s server, `page_size` matches a
    /// page.
    pub fn new(
        config: &'a ConnectionConfig,
        resource: &'a FhirResource,
        window: &'a FhirWindow,
        page_size: usize,
    ) -> Self {
        Self {
            config,
            resource,
            window,
            page_size,
            events: FhirEvents {
                type_name: &resource.type_name,
            },
        }
    }

    /// A match of a page, or the resource a read by id answered, as a listed record.
    fn listed(&self, path: &str, resource: Value) -> Result<Listed, EhrError> {
        let shape = |reason: String| EhrError::Shape {
            path: path.to_owned(),
            reason,
        };
        let type_name = &self.resource.type_name;
        if resource["resourceType"].as_str() != Some(type_name) {
            return Err(shape(format!("a match is not a {type_name}")));
        }
        let id = resource["id"].as_str().unwrap_or_default();
        if !is_fhir_id(id) {
            // `Type/id` is the focus and the store key: it must name one resource.
            return Err(shape(
                "a match's id is not a FHIR id (1 to 64 of A-Z a-z 0-9 - .)".to_owned(),
            ));
        }
        let pointer = &self.window.date_pointer;
        let date = resource
            .pointer(pointer)
            .and_then(Value::as_str)
            .and_then(date_seconds)
            .ok_or_else(|| {
                shape(format!(
                    "a match has no date, dateTime or instant at {pointer} (date_pointer), \
                     which tells a removal from a resource that left the window"
                ))
            })?;
        Ok(Listed {
            key: format!("{type_name}/{id}"),
            date,
            fingerprint: Fingerprint::of(&resource),
            record: resource,
        })
    }
}

impl Lister for WindowLister<'_> {
    fn scope(&self) -> &str {
        &self.resource.type_name
    }

    fn window(&self) -> Window {
        self.window.window
    }

    fn initial(&self) -> Initial {
        self.window.initial
    }

    fn events(&self) -> &dyn Events {
        &self.events
    }

    fn query(&self, now: DateTime<Utc>) -> String {
        let rendered = self.window.query.render(now, None);
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in url::form_urlencoded::parse(rendered.as_bytes()) {
            query.append_pair(&name, &value);
        }
        query.append_pair("_count", &self.page_size.to_string());
        query.finish()
    }

    async fn page(
        &self,
        client: &EhrClient,
        query: &str,
        position: &Position,
    ) -> Result<ListedPage, EhrError> {
        let path = match position {
            Position::First => format!("/{}?{query}", self.resource.type_name),
            Position::Link(path) => path.clone(),
            Position::Offset(_) => unreachable!("a FHIR search pages by its links"),
        };
        let body = client.get_json(&path, &[]).await?.body;
        // Read before `parse`, which keeps only the entries and the next link.
        let total = body["total"].as_u64();
        let page = bundle::parse(&path, body, BundleKind::Searchset)?;
        let mut records = Vec::with_capacity(page.entries.len());
        for mut entry in page.entries {
            let resource = entry.get_mut("resource").map(Value::take);
            records.push(self.listed(&path, resource.unwrap_or_default())?);
        }
        let next = match page.next {
            Some(url) => Some(Position::Link(link_path(self.config, &url)?)),
            None => None,
        };
        Ok(ListedPage {
            records,
            next,
            total,
        })
    }

    async fn confirm(&self, client: &EhrClient, key: &str) -> Result<Confirmed, EhrError> {
        let path = format!("/{key}");
        match client.get_json(&path, &[]).await {
            Ok(response) => {
                let listed = self.listed(&path, response.body)?;
                match listed.key == key {
                    true => Ok(Confirmed::Present(listed)),
                    false => Err(EhrError::Shape {
                        path,
                        reason: "the read by id answered another resource".to_owned(),
                    }),
                }
            }
            Err(err) if err.is_not_found() => Ok(Confirmed::Gone),
            Err(err) => Err(err),
        }
    }
}

/// A FHIR date, dateTime or instant as Unix seconds: a date (`2026-12-06`) is its midnight
/// UTC; `None` for anything else.
fn date_seconds(text: &str) -> Option<i64> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.timestamp());
    }
    let day = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    Some(day.and_hms_opt(0, 0, 0)?.and_utc().timestamp())
}

/// The FHIR semantic events of one resource type (see [`crate::fhir::events`]):
/// `Appointment.new`, `.rescheduled`, `.cancelled`, …, `{Type}.created`, `.updated`;
/// `{Type}.deleted` for a resource gone.
pub struct FhirEvents<'a> {
    /// The resource type.
    pub type_name: &'a str,
}

impl FhirEvents<'_> {
    fn event(&self, previous: Option<&Fingerprint>, current: Option<&Fingerprint>) -> Event {
        let classified = classify(self.type_name, previous, current);
        Event {
            event_type: classified.event_type,
            changed_elements: classified.changed_elements,
        }
    }
}

impl Events for FhirEvents<'_> {
    fn created(&self, current: &Fingerprint) -> Event {
        self.event(None, Some(current))
    }

    fn updated(&self, previous: &Fingerprint, current: &Fingerprint) -> Event {
        self.event(Some(previous), Some(current))
    }

    fn removed(&self, previous: &Fingerprint) -> Event {
        // Not reached: every removal is read by id (see the module doc).
        self.event(Some(previous), None)
    }

    fn deleted(&self, previous: &Fingerprint) -> Event {
        self.event(Some(previous), None)
    }

    fn fhir(&self, key: &str, event: &Event) -> Option<FhirContext> {
        Some(FhirContext {
            focus: key.to_owned(),
            changed_elements: event.changed_elements.clone(),
            included: Vec::new(),
        })
    }

    /// `{revision}:{content hash}`: Courier's own version of the change, written with a
    /// colon so that it is never taken for the server's version id (a Subscription
    /// notification names `…/_history/{version}` only for a FHIR id).
    fn version(&self, revision: u64, content: u64) -> String {
        format!("{revision}:{content:016x}")
    }
}

#[cfg(test)]
mod tests;
