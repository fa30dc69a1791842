//! A `source = "snapshot"` connection listing the simulated EHR's schedule
//! (`GET /api/schedule`), and how its tests read what it did: the notifications received, and
//! how many listings it completed (its cursor says `listing N page P` or `listing N sweep`).

use std::path::Path;

use chrono::{DateTime, Duration as TimeDelta, Utc};
use courier::app::{App, AppOptions};
use courier::store::Store;
use courier_sim::{SimEhr, SimReceiver};

use super::app::{
    config_text, eventually, eventually_some, parse_config, ConnectionSpec, TestApp, PATIENCE,
};

/// The listing's window, as the query asks for it and as Courier judges removals by.
pub const WINDOW: (&str, &str) = ("now-1d", "now+14d");

/// `spec` made a snapshot connection of the sim's schedule, paged `page_size` records at a
/// time by offset, reading a record that left the listing by id (`confirm`), comparing
/// status, times and patient only.
pub fn schedule(spec: ConnectionSpec, page_size: usize, confirm: bool) -> ConnectionSpec {
    let spec = spec
        .without("changes_path")
        .without("version_pointer")
        .without("cursor_pointer")
        .without("event_type")
        .with("source", "\"snapshot\"")
        .with("list_path", "\"/schedule\"")
        .with(
            "list_query",
            format!("\"from={{{}}}&to={{{}}}\"", WINDOW.0, WINDOW.1),
        )
        .with("window_start", format!("{:?}", WINDOW.0))
        .with("window_end", format!("{:?}", WINDOW.1))
        .with("items_pointer", "\"/items\"")
        .with("total_pointer", "\"/total\"")
        .with("compare", r#"["/status", "/start", "/end", "/patientId"]"#)
        .with("offset_param", "\"offset\"")
        .with("page_size_param", "\"limit\"")
        .with("page_size", page_size.to_string())
        .with("event_prefix", "\"appointment\"");
    match confirm {
        true => spec.with("confirm_path", "\"/schedule/{/key}\""),
        false => spec,
    }
}

/// An instant `hours` from now, in whole seconds.
pub fn in_hours(hours: i64) -> DateTime<Utc> {
    let now = Utc::now() + TimeDelta::hours(hours);
    DateTime::from_timestamp(now.timestamp(), 0).unwrap()
}

/// The listings connection `id` has started (the number in its cursor), 0 before its first.
pub fn listing(app: &App, id: &str) -> u64 {
    let cursor = app
        .status()
        .connections
        .get(id)
        .and_then(|c| c.cursor.clone());
    cursor
        .as_deref()
        .and_then(|c| c.strip_prefix("listing "))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Waits until connection `id` has completed every listing started so far and `more` after
/// them, and destination `app` delivered all they found: a notification that should not come
/// has had its chance to.
pub async fn listed(app: &App, id: &str, more: u64) {
    eventually(&format!("{id}'s first poll"), PATIENCE, || {
        listing(app, id) > 0
    })
    .await;
    let until = listing(app, id) + more + 1;
    eventually(
        &format!("{id} starts listing {until}, all delivered"),
        PATIENCE,
        || {
            let destination = app.status().destinations["app"].clone();
            listing(app, id) >= until
                && destination.backlog == Some(0)
                && destination.in_flight == 0
        },
    )
    .await;
}

/// `(type, key)` of each distinct notification connection `id` delivered, in sequence order.
pub fn notified(receiver: &SimReceiver, id: &str) -> Vec<(String, String)> {
    notifications(receiver, id)
        .into_iter()
        .map(|n| (n["type"].as_str().unwrap().to_owned(), key(&n)))
        .collect()
}

/// The distinct notifications connection `id` delivered (one per id), in sequence order.
pub fn notifications(receiver: &SimReceiver, id: &str) -> Vec<serde_json::Value> {
    let mut seen = std::collections::BTreeMap::new();
    for request in receiver.accepted() {
        if request.json["data"]["connection"] == id {
            let sequence = request.json["data"]["sequence"].as_u64().unwrap();
            seen.insert(sequence, request.json.clone());
        }
    }
    seen.into_values().collect()
}

fn key(notification: &serde_json::Value) -> String {
    notification["data"]["key"].as_str().unwrap().to_owned()
}

/// `(kind, key)` pairs as `(appointment.kind, key)`.
pub fn events(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(kind, key)| (format!("appointment.{kind}"), (*key).to_owned()))
        .collect()
}

/// Courier started on a store at `store` against `ehr` and `receiver` (which outlive it, so a
/// test can stop it and start another on the same store, once the last one let go of it).
pub async fn start_on(
    store: &Path,
    ehr: &SimEhr,
    receiver: &SimReceiver,
    secret: &str,
    spec: impl FnOnce(ConnectionSpec) -> ConnectionSpec,
) -> App {
    let specs = [spec(ConnectionSpec::new("clinic-a", ehr))];
    let text = config_text(store, &receiver.url(), "", &specs);
    let config = parse_config(&text, secret);
    let opened = eventually_some("the store, released by the last app", PATIENCE, || async {
        Store::open(store).ok()
    })
    .await;
    App::start(config, opened, AppOptions::default())
}

/// A running app's connection `clinic-a` status warnings.
pub fn warnings(t: &TestApp) -> Vec<String> {
    t.connection("clinic-a").warnings
}
