//! Errors of the admin API as JSON (`{"error": "..."}`) with a fitting status code, so a
//! script and `courier status` can show them as they are.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::actors::control::ControlError;

/// An admin request that could not be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// The HTTP status answered.
    pub status: StatusCode,
    /// What went wrong, for a person.
    pub message: String,
}

impl ApiError {
    /// An error with `status` and `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status).json(json!({ "error": self.message }))
    }
}

impl From<ControlError> for ApiError {
    fn from(err: ControlError) -> Self {
        let status = match &err {
            ControlError::UnknownConnection(_) => StatusCode::NOT_FOUND,
            ControlError::Paused(_) | ControlError::Stopped(_) => StatusCode::CONFLICT,
            ControlError::Refused(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ControlError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
        };
        Self::new(status, err.to_string())
    }
}

/// Answers a path no route serves.
pub async fn not_found() -> HttpResponse {
    ApiError::new(StatusCode::NOT_FOUND, "no such admin endpoint").error_response()
}
