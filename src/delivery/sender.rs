//! One delivery attempt: sign the notification and POST it, reading the answer to its end.

use std::time::Duration;

use actix_web::http::header::{self, HeaderName, HeaderValue};

use super::retry::is_success;
use crate::clock::Clock;
use crate::config::DestinationConfig;
use crate::model::Notification;
use crate::retry::parse_retry_after;
use crate::tls::{http_client, tls_failure};

/// The Standard Webhooks headers, named once rather than parsed from text at every attempt.
static WEBHOOK_ID: HeaderName = HeaderName::from_static("webhook-id");
static WEBHOOK_TIMESTAMP: HeaderName = HeaderName::from_static("webhook-timestamp");
static WEBHOOK_SIGNATURE: HeaderName = HeaderName::from_static("webhook-signature");

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum AttemptOutcome {
    /// The destination answered 2xx.
    Delivered {
        /// The status it answered.
        status: u16,
    },
    /// Anything else; the caller decides whether and when to retry.
    Failed {
        /// The status, when a response arrived.
        status: Option<u16>,
        /// The destination's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
        /// What went wrong, for status and dead letters.
        error: String,
    },
}

/// A client for a destination: trusting what its TLS settings say, with its connect timeout,
/// a pool as large as its in-flight window, and redirects not followed (a receiver that moved
/// must be reconfigured, not guessed at). Every attempt is timed as a whole by [`attempt`].
pub fn destination_client(destination: &DestinationConfig) -> awc::Client {
    http_client(
        &destination.tls,
        destination.connect_timeout,
        destination.max_in_flight,
    )
}

/// Signs and sends `notification` once, stamped with `clock`'s time. The response body is
/// read and dropped: an unread body keeps awc from reusing the connection.
pub async fn attempt(
    http: &awc::Client,
    destination: &DestinationConfig,
    notification: &Notification,
    clock: &Clock,
) -> AttemptOutcome {
    let timestamp = clock.now().timestamp();
    let signature = destination
        .signing_key
        .sign(&notification.id, timestamp, &notification.body);
    let mut request = http.post(destination.url.as_str());
    for (name, value) in &destination.headers {
        request = request.insert_header((name.clone(), value.clone()));
    }
    let request = request
        .insert_header((header::CONTENT_TYPE, destination.format.media_type()))
        .insert_header((WEBHOOK_ID.clone(), notification.id.as_str()))
        .insert_header((WEBHOOK_TIMESTAMP.clone(), HeaderValue::from(timestamp)))
        .insert_header((WEBHOOK_SIGNATURE.clone(), signature))
        .send_body(notification.body.clone());
    let exchange = async {
        let mut response = request.await.map_err(|err| {
            let reason = tls_failure(&err).unwrap_or_else(|| err.to_string());
            (None, None, reason)
        })?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, clock.now()));
        let _ = response.body().limit(1 << 20).await;
        if is_success(status) {
            Ok(status)
        } else {
            Err((Some(status), retry_after, format!("HTTP {status}")))
        }
    };
    match actix_rt::time::timeout(destination.timeout, exchange).await {
        Ok(Ok(status)) => AttemptOutcome::Delivered { status },
        Ok(Err((status, retry_after, error))) => AttemptOutcome::Failed {
            status,
            retry_after,
            error,
        },
        Err(_) => AttemptOutcome::Failed {
            status: None,
            retry_after: None,
            error: format!("timed out after {:?}", destination.timeout),
        },
    }
}
