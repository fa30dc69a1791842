//! The HTTP client of one connection: JSON GETs with a whole-request timeout, a body size
//! limit and no redirects, turning every failure into an [`EhrError`].

use std::time::Duration;

use actix_web::http::header;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::EhrError;
use crate::config::ConnectionConfig;
use crate::delivery::retry::parse_retry_after;

/// A parsed 2xx answer.
#[derive(Debug)]
pub struct EhrResponse {
    /// The JSON body.
    pub body: Value,
    /// The server's `Date` header, when present and valid.
    pub date: Option<DateTime<Utc>>,
}

/// One connection's client. awc keeps a connection pool per client, so each connection has
/// its own pool and one slow EHR cannot starve another's sockets.
pub struct EhrClient {
    http: awc::Client,
    base: String,
    timeout: Duration,
    max_response_bytes: usize,
}

impl EhrClient {
    /// Builds the client for a connection; must run on the thread (arbiter) that uses it.
    pub fn new(config: &ConnectionConfig) -> Self {
        let connector = awc::Connector::new()
            .timeout(config.request_timeout.min(Duration::from_secs(10)))
            .limit(config.max_concurrent_enrichments + 4);
        let http = awc::Client::builder()
            .connector(connector)
            .timeout(config.request_timeout)
            .disable_redirects()
            .add_default_header((header::ACCEPT, "application/json"))
            .add_default_header((
                header::USER_AGENT,
                concat!("courier/", env!("CARGO_PKG_VERSION")),
            ))
            .finish();
        Self {
            http,
            base: config.base_url.as_str().trim_end_matches('/').to_owned(),
            timeout: config.request_timeout,
            max_response_bytes: config.max_response_bytes,
        }
    }

    /// GETs `path` (relative to the base URL, already percent-encoded) with `query`, and
    /// parses the JSON answer. The timeout covers headers and body together, so a server that
    /// stalls mid-body cannot hang the connection.
    pub async fn get_json(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<EhrResponse, EhrError> {
        let mut url = format!("{}{}", self.base, path);
        if !query.is_empty() {
            url.push(if path.contains('?') { '&' } else { '?' });
            url.push_str(
                &url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(query)
                    .finish(),
            );
        }
        match actix_rt::time::timeout(self.timeout, self.fetch(path, &url)).await {
            Ok(result) => result,
            Err(_) => Err(EhrError::Timeout {
                path: path.to_owned(),
                after: self.timeout,
            }),
        }
    }

    async fn fetch(&self, path: &str, url: &str) -> Result<EhrResponse, EhrError> {
        let mut response = self.http.get(url).send().await.map_err(|err| match err {
            awc::error::SendRequestError::Timeout => EhrError::Timeout {
                path: path.to_owned(),
                after: self.timeout,
            },
            other => EhrError::Transport {
                path: path.to_owned(),
                reason: other.to_string(),
            },
        })?;
        let status = response.status();
        let headers = response.headers();
        let now = Utc::now();
        let date = headers
            .get(header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| DateTime::parse_from_rfc2822(v).ok())
            .map(|d| d.with_timezone(&Utc));
        if !status.is_success() {
            let retry_after = headers
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, now));
            // Read (and drop) the error body so the connection can be reused.
            let _ = response.body().limit(64 * 1024).await;
            return Err(EhrError::Status {
                path: path.to_owned(),
                status: status.as_u16(),
                retry_after,
            });
        }
        let bytes = response
            .body()
            .limit(self.max_response_bytes)
            .await
            .map_err(|err| EhrError::Body {
                path: path.to_owned(),
                reason: err.to_string(),
            })?;
        let body = serde_json::from_slice(&bytes).map_err(|err| EhrError::Json {
            path: path.to_owned(),
            reason: err.to_string(),
        })?;
        Ok(EhrResponse { body, date })
    }
}
