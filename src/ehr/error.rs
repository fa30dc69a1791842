//! What can go wrong talking to an EHR, and whether waiting helps.

use std::time::Duration;

use crate::delivery::retry::is_retriable_ehr_status;

/// One failed EHR request or unusable answer. Every kind is retried with backoff by the
/// connection that saw it; none moves a cursor.
///
/// Sources are kept as text: these errors travel between actors and into the status board,
/// which needs them `Send + Clone`, and awc's errors are neither. The text never holds a
/// response body, only statuses, sizes, pointers and parser positions.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EhrError {
    /// Connecting or sending failed (refused, reset, DNS, TLS).
    #[error("request to {path} failed: {reason}")]
    Transport {
        /// Path of the request (identifiers only).
        path: String,
        /// What failed.
        reason: String,
    },
    /// No complete answer within the request timeout (a hung socket lands here).
    #[error("request to {path} timed out after {after:?}")]
    Timeout {
        /// Path of the request.
        path: String,
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
    /// The body could not be read completely, or exceeded the size limit.
    #[error("reading the answer of {path} failed: {reason}")]
    Body {
        /// Path of the request.
        path: String,
        /// What failed.
        reason: String,
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
    /// 403), which means credentials or configuration to fix. Courier still retries with
    /// backoff, so nothing is lost once it is fixed.
    pub fn needs_operator(&self) -> bool {
        match self {
            EhrError::Status { status, .. } => !is_retriable_ehr_status(*status),
            EhrError::Auth { status, .. } => matches!(status, Some(400 | 401 | 403)),
            _ => false,
        }
    }

    /// A short, stable label for status and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            EhrError::Transport { .. } => "transport",
            EhrError::Timeout { .. } => "timeout",
            EhrError::Status { status: 429, .. } => "rate_limited",
            EhrError::Status { status, .. } if *status >= 500 => "server_error",
            EhrError::Status { .. } => "client_error",
            EhrError::Body { .. } => "body",
            EhrError::Json { .. } => "malformed_json",
            EhrError::Shape { .. } => "malformed_response",
            EhrError::Auth { .. } => "auth",
        }
    }
}
