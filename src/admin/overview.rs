//! `GET /overview?q=&state=&offset=&limit=`: the console's first page. Every destination, and
//! one page of connections (trouble first, then by id) with their lag, backlog and
//! deliveries per minute, with totals over all of them. Only the page's rows are built and
//! serialized, so 10,000 connections cost a sort of references, not 10,000 JSON objects.

use std::collections::{BTreeMap, HashMap};

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::AdminState;
use crate::status::{ConnectionState, ConnectionStatus, DestinationState, DestinationStatus};

/// Rows per page unless `limit` says otherwise, and the most `limit` may ask for.
const PAGE: usize = 100;
const PAGE_AT_MOST: usize = 500;

/// Adds the overview route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/overview", web::get().to(overview));
}

/// Which connections, and which page of them.
#[derive(Debug, Default, Deserialize)]
struct Query {
    /// A part of the connection id.
    q: Option<String>,
    /// A connection state (`idle`, `backing_off`…).
    state: Option<String>,
    offset: Option<usize>,
    limit: Option<usize>,
}

/// The name a connection state has in JSON (its `state` tag).
pub fn state_name(state: &ConnectionState) -> &'static str {
    match state {
        ConnectionState::Starting => "starting",
        ConnectionState::Polling => "polling",
        ConnectionState::Idle => "idle",
        ConnectionState::BackingOff { .. } => "backing_off",
        ConnectionState::Paused => "paused",
        ConnectionState::Restarting => "restarting",
        ConnectionState::Stopped => "stopped",
    }
}

/// Seconds since a connection's last successful poll; `None` before its first.
pub fn lag_secs(status: &ConnectionStatus, now: DateTime<Utc>) -> Option<f64> {
    let last = status.last_success?;
    Some((now - last).num_milliseconds().max(0) as f64 / 1000.0)
}

/// A connection that needs a look sorts first.
fn in_trouble(status: &ConnectionStatus) -> bool {
    matches!(
        status.state,
        ConnectionState::BackingOff { .. } | ConnectionState::Restarting
    ) || status.last_error.is_some()
}

/// One connection row.
#[derive(Serialize)]
struct ConnectionRow<'a> {
    id: &'a str,
    state: &'static str,
    destination: Option<&'a str>,
    cursor: Option<&'a str>,
    lag_secs: Option<f64>,
    backlog: Option<u64>,
    delivered_per_min: u64,
    changes: u64,
    last_success: Option<DateTime<Utc>>,
    last_error: Option<&'a str>,
    consecutive_failures: u32,
}

/// One destination row.
#[derive(Serialize)]
struct DestinationRow<'a> {
    id: &'a str,
    state: DestinationState,
    state_reason: Option<&'a str>,
    backlog: Option<u64>,
    oldest_pending_age_secs: Option<f64>,
    delivered_per_min: u64,
    delivered: u64,
    failed_attempts: u64,
    dead_lettered: u64,
    last_error: Option<&'a str>,
}

impl<'a> DestinationRow<'a> {
    fn of(id: &'a str, d: &'a DestinationStatus, rates: &HashMap<String, u64>) -> Self {
        Self {
            id,
            state: d.state,
            state_reason: d.state_reason.as_deref(),
            backlog: d.backlog,
            oldest_pending_age_secs: d.oldest_pending_age_secs,
            delivered_per_min: rates.get(id).copied().unwrap_or(0),
            delivered: d.delivered,
            failed_attempts: d.failed_attempts,
            dead_lettered: d.dead_lettered,
            last_error: d.last_error.as_deref(),
        }
    }
}

#[derive(Serialize)]
struct Totals {
    connections: usize,
    matching: usize,
    by_state: BTreeMap<&'static str, usize>,
    destinations: usize,
    backlog: Option<u64>,
    delivered_per_min: u64,
}

#[derive(Serialize)]
struct Overview<'a> {
    generated_at: DateTime<Utc>,
    totals: Totals,
    connections: Vec<ConnectionRow<'a>>,
    destinations: Vec<DestinationRow<'a>>,
    store: &'a crate::store::StoreHealth,
}

async fn overview(state: web::Data<AdminState>, query: web::Query<Query>) -> HttpResponse {
    let now = state.operations.clock().now();
    let mut snapshot = state.board.snapshot();
    let backlogs = state.control.fill_backlogs(&mut snapshot, &state.store);
    let (connection_rates, destination_rates) = state.board.journal().rates(now);
    let destination_of = state.control.destination_of_connections();

    let mut by_state = BTreeMap::new();
    for status in snapshot.connections.values() {
        *by_state.entry(state_name(&status.state)).or_default() += 1;
    }
    let q = query.q.as_deref().unwrap_or_default();
    let wanted = query.state.as_deref().filter(|s| !s.is_empty());
    let mut matching: Vec<(&String, &ConnectionStatus)> = snapshot
        .connections
        .iter()
        .filter(|(id, _)| id.contains(q))
        .filter(|(_, c)| wanted.is_none_or(|w| state_name(&c.state) == w))
        .collect();
    // The snapshot is in id order already; a stable sort keeps it within each group.
    matching.sort_by_key(|(_, c)| !in_trouble(c));

    let limit = query.limit.unwrap_or(PAGE).clamp(1, PAGE_AT_MOST);
    let offset = query.offset.unwrap_or(0);
    let rows = matching
        .iter()
        .skip(offset)
        .take(limit)
        .map(|(id, c)| ConnectionRow {
            id,
            state: state_name(&c.state),
            destination: destination_of.get(*id).map(String::as_str),
            cursor: c.cursor.as_deref(),
            lag_secs: lag_secs(c, now),
            backlog: backlogs.get(*id).copied(),
            delivered_per_min: connection_rates.get(*id).copied().unwrap_or(0),
            changes: c.changes,
            last_success: c.last_success,
            last_error: c.last_error.as_deref(),
            consecutive_failures: c.consecutive_failures,
        });
    let destinations: Vec<_> = snapshot
        .destinations
        .iter()
        .map(|(id, d)| DestinationRow::of(id, d, &destination_rates))
        .collect();
    let totals = Totals {
        connections: snapshot.connections.len(),
        matching: matching.len(),
        by_state,
        destinations: destinations.len(),
        backlog: destinations.iter().map(|d| d.backlog).sum(),
        delivered_per_min: destinations.iter().map(|d| d.delivered_per_min).sum(),
    };
    HttpResponse::Ok().json(Overview {
        generated_at: now,
        totals,
        connections: rows.collect(),
        destinations,
        store: &snapshot.store,
    })
}
