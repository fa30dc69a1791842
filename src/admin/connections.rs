//! `POST /connections/{id}/poll|pause|resume`: an operator's hand on one connection.

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::{AdminState, ApiError};
use crate::actors::control::ConnectionCommand;

/// Adds the connection routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/connections/{id}/poll", web::post().to(poll))
        .route("/connections/{id}/pause", web::post().to(pause))
        .route("/connections/{id}/resume", web::post().to(resume));
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
