//! Reading a response body to its end without ever holding more than a limit.

use awc::error::PayloadError;
use futures_util::StreamExt;

/// Why a body could not be read.
#[derive(Debug)]
pub(super) enum BodyError {
    /// It is larger than the limit: announced so by `Content-Length`, or found out while
    /// reading, which then stops at the limit.
    TooLarge,
    /// The connection failed mid-body.
    Payload(PayloadError),
    /// The connection closed before the `Content-Length` announced had arrived (awc itself
    /// ends such a body quietly).
    Incomplete {
        /// Bytes received.
        got: usize,
        /// Bytes announced.
        announced: u64,
    },
}

/// Reads the whole body of `response`, refusing more than `limit` bytes. awc's own limit
/// reports only "payload overflow"; this one lets the caller name `max_response_bytes`.
pub(super) async fn read_limited(
    response: &mut awc::ClientResponse,
    limit: usize,
) -> Result<Vec<u8>, BodyError> {
    let announced = response
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|length| length > limit as u64) {
        return Err(BodyError::TooLarge);
    }
    // Trust a Content-Length only up to the limit, and only to size the first allocation.
    let capacity = announced.map_or(0, |length| length as usize).min(limit);
    let mut body = Vec::with_capacity(capacity);
    while let Some(chunk) = response.next().await {
        let chunk = chunk.map_err(BodyError::Payload)?;
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    match announced {
        Some(announced) if (body.len() as u64) < announced => Err(BodyError::Incomplete {
            got: body.len(),
            announced,
        }),
        _ => Ok(body),
    }
}
