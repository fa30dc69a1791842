//! Errors of the admin API as JSON (`{"error": "..."}`) with a fitting status code, so a
//! script and `courier status` can show them as they are: those of the handlers, those of
//! the extractors (a path or query that does not parse), and those actix-web answers itself
//! (413).

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::{PathError, QueryPayloadError};
use actix_web::http::{header, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpRequest, HttpResponse, ResponseError};
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

/// Extractor settings whose refusals are [`ApiError`]s naming what did not parse.
pub fn extractors(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::PathConfig::default().error_handler(path_error))
        .app_data(web::QueryConfig::default().error_handler(query_error));
}

fn path_error(err: PathError, req: &HttpRequest) -> Error {
    let PathError::Deserialize(inner) = err else {
        return ApiError::new(StatusCode::BAD_REQUEST, err.to_string()).into();
    };
    let message = format!("the path {} is not valid: {inner}", req.path());
    ApiError::new(StatusCode::BAD_REQUEST, message).into()
}

fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> Error {
    let message = match err {
        QueryPayloadError::Deserialize(inner) => format!("the query is not valid: {inner}"),
        other => format!("the query is not valid: {other}"),
    };
    ApiError::new(StatusCode::BAD_REQUEST, message).into()
}

/// Middleware (`middleware::from_fn(json_errors)`): an error answer that is not JSON yet (a
/// body over the size limit, anything actix-web answers itself) becomes one, keeping its
/// status and headers, so every error of the API has the same shape (a page of the console,
/// the sign-in form, stays a page). A method a path does
/// not take reaches the default service, a JSON 404, since each route guards its method.
pub async fn json_errors(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let response = next.call(req).await?;
    let status = response.status();
    // The console's sign-in form answers its refusals as a page (text/html), kept as it is.
    let shaped = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|kind| {
            let kind = kind.as_bytes();
            kind.starts_with(b"application/json") || kind.starts_with(b"text/html")
        });
    if shaped || !(status.is_client_error() || status.is_server_error()) {
        return Ok(response.map_into_left_body());
    }
    let message = match response.response().error() {
        Some(error) => error.to_string(),
        None => status.canonical_reason().unwrap_or("failed").to_owned(),
    };
    let (request, original) = response.into_parts();
    let mut answer = ApiError::new(status, message).error_response();
    for (name, value) in original.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            answer.headers_mut().append(name.clone(), value.clone());
        }
    }
    Ok(ServiceResponse::new(request, answer).map_into_right_body())
}
