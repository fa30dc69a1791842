//! The bearer-token guard: when a token is configured, every request must carry
//! `Authorization: Bearer <token>` (the scheme in any case); otherwise it is answered 401
//! before reaching a handler.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, Error, ResponseError};

use super::{AdminState, ApiError};

/// Middleware (`middleware::from_fn(require_token)`): passes requests with the right token,
/// or every request when no token is configured.
pub async fn require_token(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let expected = req
        .app_data::<web::Data<AdminState>>()
        .and_then(|state| state.token.clone());
    let allowed = expected.is_none_or(|token| {
        let sent = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(bearer_token);
        sent.is_some_and(|sent| same_token(sent.as_bytes(), token.expose().as_bytes()))
    });
    if allowed {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let mut response = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "this admin API requires Authorization: Bearer <token>",
    )
    .error_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    Ok(req.into_response(response).map_into_right_body())
}

/// The token of an `Authorization: Bearer <token>` value; the scheme is case-insensitive
/// (RFC 9110 §11.1), so `bearer` and `BEARER` are as good as `Bearer`.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// Compares without stopping at the first difference, so timing does not tell how much of a
/// guessed token was right.
fn same_token(sent: &[u8], expected: &[u8]) -> bool {
    sent.len() == expected.len()
        && sent
            .iter()
            .zip(expected)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::{bearer_token, same_token};

    #[test]
    fn tokens_match_only_when_identical() {
        assert!(same_token(b"s3cret", b"s3cret"));
        assert!(!same_token(b"s3cret", b"s3creT"));
        assert!(!same_token(b"s3cre", b"s3cret"));
        assert!(!same_token(b"", b"s3cret"));
    }

    #[test]
    fn the_bearer_scheme_is_read_in_any_case() {
        for value in ["Bearer tok", "bearer tok", "BEARER  tok ", "bEaReR tok"] {
            assert_eq!(bearer_token(value), Some("tok"), "{value:?}");
        }
        for value in ["Basic tok", "Bearertok", "tok", "Bear tok"] {
            assert_eq!(bearer_token(value), None, "{value:?}");
        }
    }
}
