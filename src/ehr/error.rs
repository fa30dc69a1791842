//! What can go wrong talking to an EHR, and whether waiting helps.

use std::time::Duration;

use crate::model::positions::PositionError;
use crate::retry::is_retriable_ehr_status;

/// One failed EHR request or unusable answer. Every kind is retried with backoff by the
/// connection that saw it; none moves a cursor.
///
/// Sources are kept as text: these errors travel between actors and into the status board,
/// which needs them `Send + Clone`, and awc's errors are neither. The text never holds a
/// response body, only statuses, sizes, pointers and parser positions.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EhrError {
    /// Connecting or sending failed (refused, reset, DNS).
    #[error("request to {path} failed: {reason}")]
    Transport {
        /// Path of the request (identifiers only).
        path: String,
        /// What failed.
        reason: String,
    },
    /// The TLS handshake failed, or the server refused it: an untrusted or wrong server
    /// certificate, or a client certificate it does not accept.
    #[error("request to {path} failed: {reason}")]
    Tls {
        /// Path of the request.
        path: String,
        /// What failed, with a hint at the setting that usually fixes it.
        reason: String,
    },
    /// A phase of the request ran out of time (a hung socket, a body that stalls).
    #[error("request to {path} timed out after {after:?} {phase}")]
    Timeout {
        /// Path of the request.
        path: String,
        /// The phase that ran out of time, which says which setting bounds it.
        phase: TimeoutPhase,
        /// The timeout that ran out.
        after: Duration,
    },
    /// A non-2xx answer.
    #[error("request to {path} answered HTTP {status}")]
    Status {
        /// Path of the request.
        path: String,
        /// The HTTP status.
        status: u16,
        /// The server's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
    },
    /// The body could not be read completely.
    #[error("reading the answer of {path} failed: {reason}")]
    Body {
        /// Path of the request.
        path: String,
        /// What failed.
        reason: String,
    },
    /// The body is larger than `max_response_bytes`; reading stopped at the limit.
    #[error("reading the answer of {path} failed: response larger than {limit} bytes (max_response_bytes)")]
    TooLarge {
        /// Path of the request.
        path: String,
        /// The limit.
        limit: usize,
    },
    /// The body is not JSON.
    #[error("the answer of {path} is not valid JSON: {reason}")]
    Json {
        /// Path of the request.
        path: String,
        /// The parser's message (a position, never content).
        reason: String,
    },
    /// No credentials for the EHR: the token endpoint failed, refused us or answered
    /// something unusable. The text never holds a token, a client secret, an assertion or a
    /// key; at most the OAuth `error` code and a scrubbed `error_description`.
    #[error("authenticating to the EHR failed: {reason}")]
    Auth {
        /// The token endpoint's HTTP status, when it answered with a non-2xx status.
        status: Option<u16>,
        /// The token endpoint's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
        /// What failed.
        reason: String,
    },
    /// The JSON does not have the configured shape (no array, an item without its key…).
    #[error("the answer of {path} has an unexpected shape: {reason}")]
    Shape {
        /// Path of the request.
        path: String,
        /// What is missing where.
        reason: String,
    },
    /// The answer's positions cannot be followed (kinds mixed or changed, a time beyond
    /// Courier's clock plus the allowed skew): the page is refused whole, so the cursor
    /// cannot jump past changes it has not read.
    #[error("the answer of {path} was refused: {source}")]
    Position {
        /// Path of the request.
        path: String,
        /// Which rule the answer broke (boxed: it is large, and rare).
        source: Box<PositionError>,
    },
}

impl EhrError {
    /// How long the server asked us to wait, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            EhrError::Status { retry_after, .. } | EhrError::Auth { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }

    /// Whether the server said the record does not exist (any more): then enrichment records
    /// it as missing instead of retrying forever.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            EhrError::Status {
                status: 404 | 410,
                ..
            }
        )
    }

    /// Whether waiting alone will not help: the EHR refuses the request itself (400, 401,
    /// 403, 404 on the feed…), or its token endpoint refuses our credentials (400, 401,
    /// 403), which means credentials or configuration to fix. A certificate problem and a
    /// body over the size limit do not go away by themselves either, nor does a feed whose
    /// positions change kind or whose clock runs ahead. Courier still retries with backoff,
    /// so nothing is lost once it is fixed.
    pub fn needs_operator(&self) -> bool {
        match self {
            EhrError::Status { status, .. } => !is_retriable_ehr_status(*status),
            EhrError::Auth { status, .. } => matches!(status, Some(400 | 401 | 403)),
            EhrError::Tls { .. } | EhrError::TooLarge { .. } | EhrError::Position { .. } => true,
            _ => false,
        }
    }

    /// A short, stable label for status and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            EhrError::Transport { .. } => "transport",
            EhrError::Tls { .. } => "tls",
            EhrError::Timeout { .. } => "timeout",
            EhrError::Status { status: 429, .. } => "rate_limited",
            EhrError::Status { status, .. } if *status >= 500 => "server_error",
            // Redirects are never followed: a moved API is a configuration matter.
            EhrError::Status {
                status: 300..=399, ..
            } => "redirect",
            EhrError::Status { .. } => "client_error",
            EhrError::Body { .. } => "body",
            EhrError::TooLarge { .. } => "too_large",
            EhrError::Json { .. } => "malformed_json",
            EhrError::Shape { .. } => "malformed_response",
            EhrError::Auth { .. } => "auth",
            EhrError::Position { source, .. } => source.kind(),
        }
    }
}

/// Which part of a request ran out of time; each is bounded by its own setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutPhase {
    /// Opening the connection: TCP, or the TLS handshake (`connect_timeout_ms`).
    Connect,
    /// From sending the request to the response headers (`request_timeout_ms`).
    Headers,
    /// Reading the response body (`body_timeout_ms`).
    Body,
    /// The whole request (`request_timeout_ms` + `body_timeout_ms`): the safety net.
    Overall,
}

impl std::fmt::Display for TimeoutPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TimeoutPhase::Connect => "connecting (connect_timeout_ms)",
            TimeoutPhase::Headers => "waiting for the response headers (request_timeout_ms)",
            TimeoutPhase::Body => "reading the body (body_timeout_ms)",
            TimeoutPhase::Overall => "in all (request_timeout_ms + body_timeout_ms)",
        })
    }
}
