//! `GET /connections/{id}`: one connection's status with its last polls and notifications
//! (from the journal); `POST /connections/{id}/poll|pause|resume`: an operator's hand on it.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde_json::json;

use super::overview::lag_secs;
use super::{AdminState, ApiError};
use crate::actors::control::ConnectionCommand;

/// Adds the connection routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/connections/{id}", web::get().to(show))
        .route("/connections/{id}/poll", web::post().to(poll))
        .route("/connections/{id}/pause", web::post().to(pause))
        .route("/connections/{id}/resume", web::post().to(resume));
}

async fn show(
    state: web::Data<AdminState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let Some(status) = state.board.connection_status(&id) else {
        let message = format!("unknown connection \"{id}\"");
        return Err(ApiError::new(StatusCode::NOT_FOUND, message));
    };
    let now = state.operations.clock().now();
    let journal = state.board.journal().connection(&id, now);
    // Unknown (null) while the store cannot be read, never a false 0.
    let backlog = state.store.backlog(&id).ok().map(|(count, _)| count);
    let destination = state.control.destination_of_connections().remove(&*id);
    Ok(HttpResponse::Ok().json(json!({
        "id": *id,
        "destination": destination,
        "status": status,
        "backlog": backlog,
        "lag_secs": lag_secs(&status, now),
        "delivered_per_min": journal.delivered_per_min,
        "polls": journal.polls,
        "notifications": journal.notifications,
    })))
}

async fn poll(
    state: web::Data<AdminState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    command(&state, &id, ConnectionCommand::PollNow).await
}

async fn pause(
    state: web::Data<AdminState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    command(&state, &id, ConnectionCommand::Pause).await
}

async fn resume(
    state: web::Data<AdminState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    command(&state, &id, ConnectionCommand::Resume).await
}

async fn command(
    state: &AdminState,
    id: &str,
    command: ConnectionCommand,
) -> Result<HttpResponse, ApiError> {
    let result = state.control.connection(id, command).await?;
    Ok(HttpResponse::Ok().json(json!({ "connection": id, "result": result })))
}
