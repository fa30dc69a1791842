//! `/replay`: re-send retained notifications of a destination, as a job that runs inside
//! this process (`POST /replay`, answered 202 with the job id), and its progress
//! (`GET /replay/{job}`, asked of the same instance: on a cluster every instance numbers its
//! own jobs).

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

use super::{AdminState, ApiError};
use crate::app::{ReplayError, ReplayRequest};

/// Adds the replay routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/replay", web::post().to(start))
        .route("/replay/{job}", web::get().to(progress));
}

/// Starts a replay; the body is a [`ReplayRequest`]:
/// `{"destination": "app", "since": "2026-11-26T10:00:00Z", "until": null, "connection": null}`.
async fn start(state: web::Data<AdminState>, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    let request: ReplayRequest = serde_json::from_slice(&body).map_err(|err| {
        let message = format!("the body is not a replay request: {err}");
        ApiError::new(StatusCode::BAD_REQUEST, message)
    })?;
    let started = state.operations.start_replay(request).await;
    Ok(HttpResponse::Accepted().json(started.map_err(refused)?))
}

async fn progress(
    state: web::Data<AdminState>,
    job: web::Path<u64>,
) -> Result<HttpResponse, ApiError> {
    match state.operations.replay_progress(*job) {
        Some(progress) => Ok(HttpResponse::Ok().json(progress)),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no replay job {job} on this instance"),
        )),
    }
}

fn refused(err: ReplayError) -> ApiError {
    let status = match &err {
        ReplayError::UnknownDestination(_) | ReplayError::UnknownConnection(_) => {
            StatusCode::NOT_FOUND
        }
        ReplayError::EmptyRange | ReplayError::NothingRetained(_) => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        ReplayError::Paused(_) => StatusCode::CONFLICT,
        ReplayError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
    };
    ApiError::new(status, err.to_string())
}
