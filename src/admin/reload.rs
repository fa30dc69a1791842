//! `POST /reload`: re-reads the configuration file, as SIGHUP does. Answers what changed, or
//! 422 with the same messages as `courier check` while the running configuration stays.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde_json::json;

use super::{AdminState, ApiError};
use crate::reload::ReloadError;

/// Adds the reload route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/reload", web::post().to(reload));
}

async fn reload(state: web::Data<AdminState>) -> Result<HttpResponse, ApiError> {
    let Some(reloader) = &state.reloader else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "this instance was not started from a configuration file",
        ));
    };
    match reloader.reload().await {
        Ok(report) => Ok(HttpResponse::Ok().json(report)),
        Err(ReloadError::Invalid(errors)) => Ok(HttpResponse::UnprocessableEntity().json(json!({
            "error": "the new configuration is invalid; the running one stays",
            "problems": errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
        }))),
        Err(ReloadError::Refused(err)) => Err(err.into()),
    }
}
