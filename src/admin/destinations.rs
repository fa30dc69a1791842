//! `GET /destinations/{id}`: one destination's status with its last attempts (from the
//! journal). `POST /destinations/{id}/pause|resume`: an operator's hand on it. A paused
//! destination is sent nothing (its connections keep polling and storing); resuming it
//! dispatches the stored backlog in sequence order.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde_json::json;

use super::{AdminState, ApiError};
use crate::app::UnknownDestination;

/// Adds the destination routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/destinations/{id}", web::get().to(show))
        .route("/destinations/{id}/pause", web::post().to(pause))
        .route("/destinations/{id}/resume", web::post().to(resume));
}

async fn show(
    state: web::Data<AdminState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    // The journal first: an attempt is counted in the status before the journal shows it,
    // so the counters read after it include every attempt listed.
    let now = state.operations.clock().now();
    let journal = state.board.journal().destination(&id, now);
    let mut snapshot = state.board.destinations_snapshot();
    state.control.fill_backlogs(&mut snapshot, &state.store);
    let Some(status) = snapshot.destinations.remove(&*id) else {
        return Err(UnknownDestination(id.into_inner()).into());
    };
    Ok(HttpResponse::Ok().json(json!({
        "id": *id,
        "status": status,
        "delivered_per_min": journal.delivered_per_min,
        "attempts": journal.attempts,
    })))
}

async fn pause(
    state: web::Data<AdminState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state.control.pause_destination(&id)?;
    Ok(HttpResponse::Ok().json(json!({ "destination": *id, "result": "paused" })))
}

async fn resume(
    state: web::Data<AdminState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state.control.resume_destination(&id)?;
    Ok(HttpResponse::Ok().json(json!({ "destination": *id, "result": "resumed" })))
}

impl From<UnknownDestination> for ApiError {
    fn from(err: UnknownDestination) -> Self {
        Self::new(StatusCode::NOT_FOUND, err.to_string())
    }
}
