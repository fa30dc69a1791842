//! `/dead-letters`: list (filtered, paged), show, retry and purge dead letters.
//!
//! | route | does |
//! |---|---|
//! | `GET /dead-letters?destination=&connection=&after=&limit=` | a page of summaries (no bodies) and `next` |
//! | `GET /dead-letters/{id}` | one dead letter: every attempt, the reason, the body |
//! | `POST /dead-letters/{id}/retry` | back to pending, same id and sequence (from any instance of a cluster) |
//! | `POST /dead-letters/retry?destination=&connection=` (or `?all=true`) | every matching one |
//! | `DELETE /dead-letters/{id}` | deleted for good |
//! | `DELETE /dead-letters?destination=&connection=` (or `?all=true`) | every matching one |
//!
//! A bulk action needs a filter or `all=true`, so a bare request cannot act on everything.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{AdminState, ApiError};
use crate::model::DeadLetter;
use crate::store::{DeadLetterFilter, DeadLetterSelection, StoreError};

/// Dead letters per page unless `limit` says otherwise, and the most `limit` may ask for.
const PAGE: usize = 100;
const PAGE_AT_MOST: usize = 1000;

/// Adds the dead-letter routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/dead-letters", web::get().to(list))
        .route("/dead-letters", web::delete().to(purge_matching))
        .route("/dead-letters/retry", web::post().to(retry_matching))
        .route("/dead-letters/{id}", web::get().to(show))
        .route("/dead-letters/{id}", web::delete().to(purge_one))
        .route("/dead-letters/{id}/retry", web::post().to(retry_one));
}

/// The query of a list or a bulk action.
#[derive(Debug, Default, Deserialize)]
struct Query {
    destination: Option<String>,
    connection: Option<String>,
    after: Option<String>,
    limit: Option<usize>,
    #[serde(default)]
    all: bool,
}

impl Query {
    fn filter(&self) -> DeadLetterFilter {
        DeadLetterFilter {
            destination: self.destination.clone(),
            connection: self.connection.clone(),
        }
    }

    /// The selection of a bulk action: refused when it would silently mean "everything".
    fn selection(&self) -> Result<DeadLetterSelection, ApiError> {
        let filter = self.filter();
        if filter.is_empty() && !self.all {
            let message = "name a destination or a connection, or say all=true";
            return Err(ApiError::new(StatusCode::BAD_REQUEST, message));
        }
        Ok(DeadLetterSelection::Matching(filter))
    }
}

/// A dead letter in a list: what an operator scans for, without the body (patient data).
#[derive(Debug, Serialize)]
struct Summary<'a> {
    id: &'a str,
    connection: &'a str,
    sequence: u64,
    destination: &'a str,
    reason: &'a str,
    dead_at: DateTime<Utc>,
    attempts: usize,
    last_status: Option<u16>,
    last_error: Option<&'a str>,
}

impl<'a> From<&'a DeadLetter> for Summary<'a> {
    fn from(letter: &'a DeadLetter) -> Self {
        let last = letter.attempts.last();
        Self {
            id: &letter.notification_id,
            connection: &letter.connection,
            sequence: letter.sequence,
            destination: &letter.destination,
            reason: &letter.reason,
            dead_at: letter.dead_at,
            attempts: letter.attempts.len(),
            last_status: last.and_then(|a| a.status),
            last_error: last.and_then(|a| a.error.as_deref()),
        }
    }
}

async fn list(
    state: web::Data<AdminState>,
    query: web::Query<Query>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(PAGE).clamp(1, PAGE_AT_MOST);
    let page = state
        .operations
        .dead_letter_page(&query.filter(), query.after.as_deref(), limit)
        .await
        .map_err(store_failed)?;
    let letters: Vec<Summary<'_>> = page.letters.iter().map(Summary::from).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "dead_letters": letters,
        "next": page.next,
    })))
}

async fn show(
    state: web::Data<AdminState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    match state
        .operations
        .dead_letter(&id)
        .await
        .map_err(store_failed)?
    {
        Some(letter) => Ok(HttpResponse::Ok().json(letter)),
        None => Err(no_such(&id)),
    }
}

async fn retry_one(
    state: web::Data<AdminState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let selection = DeadLetterSelection::Id(id.clone());
    let cluster = state.cluster.as_ref().map(|board| board.snapshot());
    let outcome = state
        .operations
        .retry_dead_letters(&selection, cluster.as_ref());
    let outcome = outcome.await.map_err(store_failed)?;
    if outcome.retried == 0 {
        return Err(no_such(&id));
    }
    Ok(HttpResponse::Ok().json(outcome))
}

async fn retry_matching(
    state: web::Data<AdminState>,
    query: web::Query<Query>,
) -> Result<HttpResponse, ApiError> {
    let selection = query.selection()?;
    let cluster = state.cluster.as_ref().map(|board| board.snapshot());
    let outcome = state
        .operations
        .retry_dead_letters(&selection, cluster.as_ref());
    Ok(HttpResponse::Ok().json(outcome.await.map_err(store_failed)?))
}

async fn purge_one(
    state: web::Data<AdminState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let selection = DeadLetterSelection::Id(id.clone());
    let outcome = state.operations.purge_dead_letters(&selection).await;
    let outcome = outcome.map_err(store_failed)?;
    if outcome.purged == 0 {
        return Err(no_such(&id));
    }
    Ok(HttpResponse::Ok().json(outcome))
}

async fn purge_matching(
    state: web::Data<AdminState>,
    query: web::Query<Query>,
) -> Result<HttpResponse, ApiError> {
    let selection = query.selection()?;
    let outcome = state.operations.purge_dead_letters(&selection).await;
    Ok(HttpResponse::Ok().json(outcome.map_err(store_failed)?))
}

fn no_such(id: &str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, format!("no dead letter {id}"))
}

/// A store failure: the operator's matter, said as the store says it (never a body).
pub(super) fn store_failed(err: StoreError) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, err.to_string())
}
