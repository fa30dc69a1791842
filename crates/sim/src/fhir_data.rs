//! The data of the simulated FHIR server: every version of every resource in write order,
//! and the searches and history reads over them, with the semantics of real servers that
//! matter to a poller (inclusive `ge`, ties in write order, offset-based `next` links).

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

/// How the server numbers versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VersionIds {
    /// `"1"`, `"2"`, … per resource, like HAPI and sekmet.
    #[default]
    Counter,
    /// A random UUID per version, like Medplum: opaque, in no order.
    Uuid,
}

/// One stored version (`resource` is `None` for a deletion).
#[derive(Debug, Clone)]
struct Version {
    type_name: String,
    id: String,
    version_id: String,
    at: DateTime<Utc>,
    resource: Option<Value>,
}

/// Every version, in write order.
#[derive(Debug, Default)]
pub struct FhirData {
    versions: Vec<Version>,
    version_ids: VersionIds,
    /// Written into `fullUrl`s and links.
    base: String,
    /// The largest `_count` honoured, as real servers cap it.
    pub max_count: usize,
    /// Whether history `next` links leave `_since` out (sekmet's do): the offset then runs
    /// over the whole history, which is newest first, so it still lands on the same entry.
    pub history_links_drop_since: bool,
    /// Whether searches take `_lastUpdated` (a server like Epic's refuses it with 400).
    pub last_updated: bool,
}

/// An instant as the server writes it: milliseconds and `Z`.
pub fn instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl FhirData {
    /// Empty data served under `base`.
    pub fn new(base: String, version_ids: VersionIds) -> Self {
        Self {
            versions: Vec::new(),
            version_ids,
            base,
            max_count: 1000,
            history_links_drop_since: false,
            last_updated: true,
        }
    }

    /// Stores a new version of `resource` (which names its type and id) at `at`, with
    /// `version` or the next one; returns it with its `meta`.
    pub fn put(
        &mut self,
        mut resource: Value,
        at: DateTime<Utc>,
        version: Option<String>,
    ) -> Value {
        let type_name = resource["resourceType"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let id = resource["id"].as_str().unwrap_or_default().to_owned();
        let version_id = version.unwrap_or_else(|| self.next_version(&type_name, &id));
        resource["meta"] = json!({"versionId": version_id, "lastUpdated": instant(at)});
        self.versions.push(Version {
            type_name,
            id,
            version_id,
            at,
            resource: Some(resource.clone()),
        });
        resource
    }

    /// Records the deletion of `type_name/id` at `at`.
    pub fn delete(&mut self, type_name: &str, id: &str, at: DateTime<Utc>) {
        let version_id = self.next_version(type_name, id);
        self.versions.push(Version {
            type_name: type_name.to_owned(),
            id: id.to_owned(),
            version_id,
            at,
            resource: None,
        });
    }

    fn next_version(&self, type_name: &str, id: &str) -> String {
        match self.version_ids {
            VersionIds::Counter => {
                let count = self.history_of(type_name, id).count();
                (count + 1).to_string()
            }
            VersionIds::Uuid => courier_wire::uuid_text(fastrand::u128(..).to_be_bytes()),
        }
    }

    fn history_of<'a>(
        &'a self,
        type_name: &'a str,
        id: &'a str,
    ) -> impl Iterator<Item = &'a Version> {
        self.versions
            .iter()
            .filter(move |v| v.type_name == type_name && v.id == id)
    }

    /// The current version of `type_name/id`: `Ok(None)` if it never existed, `Err(())` if
    /// it was deleted.
    pub fn read(&self, type_name: &str, id: &str) -> Result<Option<Value>, ()> {
        match self.history_of(type_name, id).last() {
            None => Ok(None),
            Some(v) => v.resource.clone().map(Some).ok_or(()),
        }
    }

    /// The current, not deleted versions of a type, in write order of their last write.
    fn current(&self, type_name: &str) -> Vec<&Version> {
        let mut last: HashMap<&str, usize> = HashMap::new();
        for (i, v) in self.versions.iter().enumerate() {
            if v.type_name == type_name {
                last.insert(&v.id, i);
            }
        }
        let mut indexes: Vec<usize> = last.into_values().collect();
        indexes.sort_unstable();
        indexes
            .into_iter()
            .map(|i| &self.versions[i])
            .filter(|v| v.resource.is_some())
            .collect()
    }

    /// A search of `type_name` with `params`: `_lastUpdated` (prefixes ge gt le lt eq, no
    /// prefix = eq; refused unless `last_updated`), `date` (see `fhir_date`),
    /// `_sort=_lastUpdated`, `_count` (default 20), `_offset`, `_include` (any resource a
    /// match refers to). Other parameters are ignored. The Bundle has its `total`.
    pub fn search(&self, type_name: &str, params: &[(String, String)]) -> Result<Value, String> {
        let mut matches = Vec::new();
        for v in self.current(type_name) {
            let resource = v.resource.as_ref().unwrap_or(&Value::Null);
            if super::fhir_date::matches(type_name, resource, params)? {
                matches.push(v);
            }
        }
        for (name, value) in params {
            if name == "_lastUpdated" {
                if !self.last_updated {
                    return Err("_lastUpdated is not supported".to_owned());
                }
                let (prefix, at) = bound(value)?;
                matches.retain(|v| prefix.holds(v.at, at));
            }
        }
        if params
            .iter()
            .any(|(k, v)| k == "_sort" && v == "_lastUpdated")
        {
            matches.sort_by_key(|v| v.at); // stable: ties stay in write order
        }
        let (count, offset) = paging(params, 20)?;
        let count = count.min(self.max_count);
        let page: Vec<&Version> = matches.iter().skip(offset).take(count).copied().collect();
        let mut entries: Vec<Value> = page
            .iter()
            .map(|v| self.entry(v, json!({"search": {"mode": "match"}})))
            .collect();
        if params.iter().any(|(k, _)| k == "_include") {
            entries.extend(self.included(&page));
        }
        let more = matches.len() > offset + count;
        let mut bundle = self.bundle(
            "searchset",
            type_name,
            params,
            entries,
            more.then_some(offset + count),
        );
        bundle["total"] = json!(matches.len());
        Ok(bundle)
    }

    /// `{type}/_history`: every version (deletions too) with `_since` (inclusive), newest
    /// first, `_count` (default 50) and `_offset`.
    pub fn history(&self, type_name: &str, params: &[(String, String)]) -> Result<Value, String> {
        let since = match params.iter().find(|(k, _)| k == "_since") {
            Some((_, v)) => Some(parse_instant(v)?),
            None => None,
        };
        let mut versions: Vec<&Version> = self
            .versions
            .iter()
            .filter(|v| v.type_name == type_name && since.is_none_or(|s| v.at >= s))
            .collect();
        versions.reverse();
        versions.sort_by_key(|v| std::cmp::Reverse(v.at));
        let (count, offset) = paging(params, 50)?;
        let entries = versions
            .iter()
            .skip(offset)
            .take(count)
            .map(|v| self.history_entry(v))
            .collect();
        let more = versions.len() > offset + count;
        let path = format!("{type_name}/_history");
        let kept: Vec<(String, String)> = params
            .iter()
            .filter(|(k, _)| !(self.history_links_drop_since && k == "_since"))
            .cloned()
            .collect();
        Ok(self.bundle(
            "history",
            &path,
            &kept,
            entries,
            more.then_some(offset + count),
        ))
    }

    fn entry(&self, v: &Version, extra: Value) -> Value {
        let mut entry = json!({
            "fullUrl": format!("{}/{}/{}", self.base, v.type_name, v.id),
            "resource": v.resource,
        });
        if let (Some(entry), Some(extra)) = (entry.as_object_mut(), extra.as_object()) {
            entry.extend(extra.clone());
        }
        entry
    }

    fn history_entry(&self, v: &Version) -> Value {
        let method = if v.resource.is_none() {
            "DELETE"
        } else {
            "PUT"
        };
        let mut entry = json!({
            "fullUrl": format!("{}/{}/{}", self.base, v.type_name, v.id),
            "request": {"method": method, "url": format!("{}/{}", v.type_name, v.id)},
            "response": {"etag": format!("W/\"{}\"", v.version_id), "lastModified": instant(v.at)},
        });
        if let Some(resource) = &v.resource {
            entry["resource"] = resource.clone();
        }
        entry
    }

    fn included(&self, page: &[&Version]) -> Vec<Value> {
        let mut references = Vec::new();
        for v in page {
            collect_references(v.resource.as_ref().unwrap_or(&Value::Null), &mut references);
        }
        references.sort();
        references.dedup();
        references
            .iter()
            .filter_map(|r| r.split_once('/'))
            .filter_map(|(kind, id)| {
                let current = self.history_of(kind, id).last()?;
                current.resource.as_ref()?;
                Some(self.entry(current, json!({"search": {"mode": "include"}})))
            })
            .collect()
    }

    fn bundle(
        &self,
        kind: &str,
        path: &str,
        params: &[(String, String)],
        entries: Vec<Value>,
        next_offset: Option<usize>,
    ) -> Value {
        let mut bundle = json!({"resourceType": "Bundle", "type": kind, "entry": entries});
        if let Some(offset) = next_offset {
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in params.iter().filter(|(k, _)| k != "_offset") {
                query.append_pair(k, v);
            }
            query.append_pair("_offset", &offset.to_string());
            let url = format!("{}/{path}?{}", self.base, query.finish());
            bundle["link"] = json!([{"relation": "next", "url": url}]);
        }
        bundle
    }
}

fn collect_references(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("reference") {
                out.push(r.clone());
            }
            map.values().for_each(|v| collect_references(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_references(v, out)),
        _ => {}
    }
}

/// A `_lastUpdated` comparison.
#[derive(Debug, Clone, Copy)]
enum Prefix {
    Eq,
    Ge,
    Gt,
    Le,
    Lt,
}

impl Prefix {
    fn holds(self, value: DateTime<Utc>, bound: DateTime<Utc>) -> bool {
        match self {
            Prefix::Eq => value == bound,
            Prefix::Ge => value >= bound,
            Prefix::Gt => value > bound,
            Prefix::Le => value <= bound,
            Prefix::Lt => value < bound,
        }
    }
}

fn bound(value: &str) -> Result<(Prefix, DateTime<Utc>), String> {
    let (prefix, rest) = match value.get(..2) {
        Some("ge") => (Prefix::Ge, &value[2..]),
        Some("gt") => (Prefix::Gt, &value[2..]),
        Some("le") => (Prefix::Le, &value[2..]),
        Some("lt") => (Prefix::Lt, &value[2..]),
        Some("eq") => (Prefix::Eq, &value[2..]),
        _ => (Prefix::Eq, value),
    };
    Ok((prefix, parse_instant(rest)?))
}

fn parse_instant(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| "an instant must be RFC 3339 with a zone".to_owned())
}

fn paging(params: &[(String, String)], default_count: usize) -> Result<(usize, usize), String> {
    let number = |name: &str, default: usize| -> Result<usize, String> {
        match params.iter().find(|(k, _)| k == name) {
            Some((_, v)) => v.parse().map_err(|_| format!("{name} must be a number")),
            None => Ok(default),
        }
    };
    Ok((number("_count", default_count)?, number("_offset", 0)?))
}
