//! `GET /notifications?id=` | `?key=[&connection=]` | `?connection=&sequence=`: where a
//! notification is, from the journal (recent), the pending containers, the dead letters and
//! the retained notifications. `GET /notifications/{id}/body?connection=&sequence=`: its
//! body, logged as viewed (by whom, never the body itself).
//!
//! Bodies are held only by dead letters and retained (delivered) notifications. A pending
//! notification's body does not exist yet: it is rendered from the EHR at delivery. The
//! retained notifications are read by destination and delivery time, so a lookup reads at
//! most [`RETAINED_SCAN_AT_MOST`] of them, delivered after `since` (default: the last
//! [`RETAINED_WINDOW_HOURS`] hours), and says whether it read them all.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::dead_letters::store_failed;
use super::viewer::Viewer;
use super::{AdminState, ApiError};
use crate::escape::escaped;
use crate::status::journal::{Found, Lookup, Outcome};

mod sources;

use sources::{
    answers, dead_letters, destinations_to_scan, from_dead_letter, from_retained, pending,
    scan_retained,
};

/// Retained notifications one lookup reads at most: a bound on what a lookup costs the store.
pub const RETAINED_SCAN_AT_MOST: usize = 10_000;
/// How far back a lookup reads retained notifications unless `since` says otherwise.
pub const RETAINED_WINDOW_HOURS: i64 = 24;

/// Adds the notification routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/notifications", web::get().to(lookup))
        .route("/notifications/{id}/body", web::get().to(body));
}

#[derive(Debug, Default, Deserialize)]
struct Query {
    id: Option<String>,
    key: Option<String>,
    connection: Option<String>,
    sequence: Option<u64>,
    /// Read retained notifications delivered since then.
    since: Option<DateTime<Utc>>,
}

impl Query {
    fn lookup(&self) -> Result<Lookup<'_>, ApiError> {
        match (&self.id, &self.key, &self.connection, self.sequence) {
            (Some(id), _, _, _) => Ok(Lookup::Id(id)),
            (None, Some(key), connection, _) => Ok(Lookup::Key(key, connection.as_deref())),
            (None, None, Some(connection), Some(sequence)) => {
                Ok(Lookup::Sequence(connection, sequence))
            }
            _ => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "look up by id=, by key= (and connection=), or by connection= and sequence=",
            )),
        }
    }
}

/// One notification found; `found_in` says where its body is when one is held, otherwise
/// where it was seen.
#[derive(Debug, Serialize)]
struct Match {
    id: String,
    connection: String,
    sequence: u64,
    key: Option<String>,
    event_type: Option<String>,
    destination: Option<String>,
    outcome: Outcome,
    attempts: Option<u32>,
    at: Option<DateTime<Utc>>,
    found_in: &'static str,
    body_available: bool,
}

impl From<Found> for Match {
    fn from(found: Found) -> Self {
        let entry = found.entry;
        Self {
            id: entry.id.into(),
            connection: found.connection,
            sequence: entry.sequence,
            key: Some(entry.key.into()),
            event_type: entry.event_type.map(|t| t.as_str().to_owned()),
            destination: Some(entry.destination.as_str().to_owned()),
            outcome: entry.outcome,
            attempts: Some(entry.attempts),
            at: Some(entry.at).filter(|at| *at != DateTime::<Utc>::MIN_UTC),
            found_in: "recent",
            body_available: false,
        }
    }
}

/// Adds `found` unless a match of the same notification is there; a held body always shows.
fn merge(matches: &mut Vec<Match>, found: Match) {
    match matches.iter_mut().find(|m| m.id == found.id) {
        Some(known) if found.body_available && !known.body_available => {
            known.found_in = found.found_in;
            known.body_available = true;
            known.event_type = known.event_type.take().or(found.event_type);
            known.key = known.key.take().or(found.key);
        }
        Some(_) => {}
        None => matches.push(found),
    }
}

async fn lookup(
    state: web::Data<AdminState>,
    query: web::Query<Query>,
) -> Result<HttpResponse, ApiError> {
    let lookup = query.lookup()?;
    let mut matches: Vec<Match> = Vec::new();
    for found in state.board.journal().find(lookup) {
        merge(&mut matches, found.into());
    }
    for found in pending(&state, lookup).await.map_err(store_failed)? {
        merge(&mut matches, found);
    }
    for letter in dead_letters(&state, lookup).await.map_err(store_failed)? {
        merge(&mut matches, from_dead_letter(&letter));
    }
    let now = state.operations.clock().now();
    let since = query
        .since
        .unwrap_or(now - chrono::Duration::hours(RETAINED_WINDOW_HOURS));
    let destinations = destinations_to_scan(&state, &matches);
    let connection = match lookup {
        Lookup::Key(_, connection) => connection,
        Lookup::Sequence(connection, _) => Some(connection),
        Lookup::Id(_) => None,
    };
    let mut retained = Vec::new();
    let scanned = scan_retained(&state, &destinations, since, connection, |r| {
        let n = &r.notification;
        if answers(lookup, &n.id, &n.connection, n.sequence, Some(&n.key)) {
            retained.push(from_retained(r));
        }
    });
    let scanned = scanned.await.map_err(store_failed)?;
    for found in retained {
        merge(&mut matches, found);
    }
    Ok(HttpResponse::Ok().json(json!({
        "matches": matches,
        "retained_scanned": scanned,
        "note": "bodies are held by dead letters and retained notifications only: a pending notification's body is rendered at delivery",
    })))
}

#[derive(Debug, Deserialize)]
struct BodyQuery {
    connection: String,
    sequence: u64,
    since: Option<DateTime<Utc>>,
}

async fn body(
    state: web::Data<AdminState>,
    id: web::Path<String>,
    query: web::Query<BodyQuery>,
    viewer: Viewer,
) -> Result<HttpResponse, ApiError> {
    let (connection, sequence) = (query.connection.as_str(), query.sequence);
    let Some((found_in, body)) = held_body(&state, &id, &query).await? else {
        let message = format!(
            "no body held for notification {id}: a pending notification's body is rendered at delivery and not stored; a delivered one is kept only while its destination retains notifications"
        );
        return Err(ApiError::new(StatusCode::NOT_FOUND, message));
    };
    log::info!(
        "body viewed: notif={} conn={} seq={sequence} by {viewer}",
        escaped(&*id),
        escaped(connection)
    );
    Ok(HttpResponse::Ok().json(json!({
        "id": *id,
        "connection": connection,
        "sequence": sequence,
        "found_in": found_in,
        "body": body,
    })))
}

/// The body of notification `id` (of `query`'s connection and sequence), from its dead letter
/// or its retained copy, with where it was found.
async fn held_body(
    state: &AdminState,
    id: &str,
    query: &BodyQuery,
) -> Result<Option<(&'static str, Value)>, ApiError> {
    let (connection, sequence) = (query.connection.as_str(), query.sequence);
    let letter = state
        .store
        .find_dead_letter(id)
        .await
        .map_err(store_failed)?;
    if let Some(letter) = letter.filter(|l| l.connection == connection && l.sequence == sequence) {
        return Ok(Some(("dead_letters", letter.body)));
    }
    // The journal knows where it went and when, which narrows the read of retained ones.
    let recent = state
        .board
        .journal()
        .find(Lookup::Sequence(connection, sequence));
    let recent: Vec<Match> = recent.into_iter().map(Match::from).collect();
    let now = state.operations.clock().now();
    let since = match (query.since, recent.first().and_then(|m| m.at)) {
        (Some(since), _) => since,
        (None, Some(at)) => at - chrono::Duration::minutes(1),
        (None, None) => now - chrono::Duration::hours(RETAINED_WINDOW_HOURS),
    };
    let destinations = destinations_to_scan(state, &recent);
    let mut body = None;
    let scan = scan_retained(state, &destinations, since, Some(connection), |r| {
        let n = &r.notification;
        if body.is_none() && n.id == id && n.sequence == sequence {
            body = serde_json::from_slice::<Value>(&n.body).ok();
        }
    });
    scan.await.map_err(store_failed)?;
    Ok(body.map(|body| ("retained", body)))
}
