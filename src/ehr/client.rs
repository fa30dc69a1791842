//! The HTTP client of one connection: JSON GETs over TLS (see [`crate::tls`]), paced
//! (concurrency, rate, `Retry-After` pauses), timed phase by phase, size-limited while
//! streaming and never redirected, turning every failure into an [`EhrError`].

mod body;
mod clock;
mod pacing;
#[cfg(test)]
mod tests;

use std::time::{Duration, Instant};

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use awc::error::{ConnectError, SendRequestError};
use chrono::{DateTime, Utc};
use serde_json::Value;

use self::body::{read_limited, BodyError};
use self::clock::RequestClock;
use self::pacing::Pacing;
use super::{Authenticator, EhrError, TimeoutPhase};
use crate::clock::Clock;
use crate::config::ConnectionConfig;
use crate::retry::parse_retry_after;
use crate::tls::{http_client, tls_failure};

/// How much of an error response is read (and dropped) so its connection can be reused.
const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// A parsed 2xx answer.
#[derive(Debug)]
pub struct EhrResponse {
    /// The JSON body.
    pub body: Value,
    /// The server's `Date` header, when present and valid.
    pub date: Option<DateTime<Utc>>,
}

/// One connection's client, shared by its polls and its enrichment. awc keeps a connection
/// pool per client, so each connection has its own pool and one slow EHR cannot starve
/// another's sockets; the pacing is per client too, so one connection's limits and pauses
/// never hold back another.
pub struct EhrClient {
    http: awc::Client,
    /// `base_url` without its trailing slash; paths start with one.
    base: String,
    /// From sending a request (connecting included) to its response headers.
    request_timeout: Duration,
    /// Reading a whole response body.
    body_timeout: Duration,
    /// What the connector was given, to name it when it runs out.
    connect_timeout: Duration,
    max_response_bytes: usize,
    pacing: Pacing,
    /// Adds the `Authorization` header; its token endpoint uses the connection's TLS.
    auth: Authenticator,
    /// Where request durations are recorded, when metrics are kept.
    meters: Option<std::sync::Arc<crate::metrics::ConnectionMeters>>,
    /// The app's clock: what a `Retry-After` date and a token's life are measured by, and
    /// what the connection's pages are stamped with.
    clock: Clock,
}

impl EhrClient {
    /// Builds the client for a connection; must run on the thread (arbiter) that uses it.
    pub fn new(config: &ConnectionConfig) -> Self {
        // Without a concurrency limit, requests are bounded by the enrichments plus a poll.
        let pool = config
            .max_concurrent_requests
            .unwrap_or(config.max_concurrent_enrichments + 4);
        Self {
            http: http_client(&config.tls, config.connect_timeout, pool),
            base: config.base_url.as_str().trim_end_matches('/').to_owned(),
            request_timeout: config.request_timeout,
            body_timeout: config.body_timeout,
            connect_timeout: config.connect_timeout,
            max_response_bytes: config.max_response_bytes,
            pacing: Pacing::new(config),
            auth: Authenticator::with_client(
                config.auth.as_ref(),
                config
                    .auth
                    .as_ref()
                    .map(|_| http_client(&config.tls, config.connect_timeout, 2)),
                config.request_timeout,
            ),
            meters: None,
            clock: Clock::system(),
        }
    }

    /// Reads the time from `clock` (the app's) instead of the system clock, token refreshes
    /// included.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.auth = self.auth.with_clock(clock.clone());
        self.clock = clock;
        self
    }

    /// The clock this client and its connection read the time from.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Records the duration of every request into `meters` (the admin API's histogram).
    pub fn with_meters(mut self, meters: std::sync::Arc<crate::metrics::ConnectionMeters>) -> Self {
        self.meters = Some(meters);
        self
    }

    /// GETs `path` (relative to the base URL, already percent-encoded) with `query`, and
    /// parses the JSON answer.
    ///
    /// The request first waits its turn (concurrency, rate, a pause an EHR asked for); then
    /// each phase has its own timeout (connect, response headers, body), and the whole
    /// exchange `request_timeout + body_timeout` as a safety net, so nothing, a server that
    /// stalls mid-body included, can hang the connection.
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
        let _permit = self.pacing.admit().await;
        let overall = self.request_timeout + self.body_timeout;
        let started = self.meters.as_ref().map(|_| Instant::now());
        let sleep = std::pin::pin!(actix_rt::time::sleep(overall));
        let mut clock = RequestClock::new(sleep, overall);
        let result = self.authorized(path, &url, &mut clock).await;
        if let (Some(meters), Some(started)) = (&self.meters, started) {
            meters.ehr_request.observe(started.elapsed());
        }
        result
    }

    /// The end of a pause the EHR asked for (429 or 503 with `Retry-After`), while it lasts.
    pub fn paused_until(&self) -> Option<Instant> {
        self.pacing.paused_until()
    }

    /// One exchange with the `Authorization` header; a 401 on a token drops that token and
    /// retries once with a fresh one (an expired or revoked token), no more.
    async fn authorized(
        &self,
        path: &str,
        url: &str,
        clock: &mut RequestClock<'_>,
    ) -> Result<EhrResponse, EhrError> {
        let sent = self.authorization(path, clock).await?;
        match self.exchange(path, url, sent.as_ref(), clock).await {
            Err(EhrError::Status { status: 401, .. })
                if sent.as_ref().is_some_and(|sent| self.auth.reject(sent)) =>
            {
                let fresh = self.authorization(path, clock).await?;
                self.exchange(path, url, fresh.as_ref(), clock).await
            }
            other => other,
        }
    }

    /// The `Authorization` header (a token fetched or cached), within the overall limit.
    async fn authorization(
        &self,
        path: &str,
        clock: &mut RequestClock<'_>,
    ) -> Result<Option<HeaderValue>, EhrError> {
        match clock.within_overall(self.auth.authorization()).await {
            Ok(result) => result,
            Err((phase, after)) => Err(timed_out(path, phase, after)),
        }
    }

    async fn exchange(
        &self,
        path: &str,
        url: &str,
        authorization: Option<&HeaderValue>,
        clock: &mut RequestClock<'_>,
    ) -> Result<EhrResponse, EhrError> {
        let mut request = self
            .http
            .get(url)
            .insert_header((header::ACCEPT, "application/json"));
        if let Some(value) = authorization {
            request = request.insert_header((header::AUTHORIZATION, value.clone()));
        }
        let send = request.send();
        let headers = clock.within(TimeoutPhase::Headers, self.request_timeout, send);
        let mut response = match headers.await {
            Ok(Ok(response)) => response,
            Ok(Err(err)) => return Err(self.send_failed(path, err)),
            Err((phase, after)) => return Err(timed_out(path, phase, after)),
        };
        let status = response.status();
        let headers = response.headers();
        let date = headers
            .get(header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| DateTime::parse_from_rfc2822(v).ok())
            .map(|d| d.with_timezone(&Utc));
        if !status.is_success() {
            let retry_after = headers
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, self.clock.now()));
            self.honour(status, retry_after);
            // Read (and drop) a small error body so the connection can be reused.
            let error_body = read_limited(&mut response, ERROR_BODY_LIMIT);
            let _ = clock
                .within(TimeoutPhase::Body, self.body_timeout, error_body)
                .await;
            return Err(EhrError::Status {
                path: path.to_owned(),
                status: status.as_u16(),
                retry_after,
            });
        }
        let read = read_limited(&mut response, self.max_response_bytes);
        let bytes = match clock
            .within(TimeoutPhase::Body, self.body_timeout, read)
            .await
        {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(BodyError::TooLarge)) => {
                return Err(EhrError::TooLarge {
                    path: path.to_owned(),
                    limit: self.max_response_bytes,
                })
            }
            Ok(Err(BodyError::Payload(err))) => {
                return Err(EhrError::Body {
                    path: path.to_owned(),
                    reason: err.to_string(),
                })
            }
            Ok(Err(BodyError::Incomplete { got, announced })) => {
                return Err(EhrError::Body {
                    path: path.to_owned(),
                    reason: format!(
                        "incomplete: the connection closed after {got} of {announced} bytes"
                    ),
                })
            }
            Err((phase, after)) => return Err(timed_out(path, phase, after)),
        };
        let body = serde_json::from_slice(&bytes).map_err(|err| EhrError::Json {
            path: path.to_owned(),
            reason: err.to_string(),
        })?;
        Ok(EhrResponse { body, date })
    }

    /// A 429 (too many requests) or 503 (unavailable) with `Retry-After` speaks for the whole
    /// API, not for one resource: every request of the connection waits it out.
    fn honour(&self, status: StatusCode, retry_after: Option<Duration>) {
        let throttled = matches!(
            status,
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
        );
        if let (true, Some(after)) = (throttled, retry_after) {
            self.pacing.pause_for(after);
        }
    }

    fn send_failed(&self, path: &str, err: SendRequestError) -> EhrError {
        if let SendRequestError::Connect(ConnectError::Timeout) = err {
            return timed_out(path, TimeoutPhase::Connect, self.connect_timeout);
        }
        match tls_failure(&err) {
            Some(reason) => EhrError::Tls {
                path: path.to_owned(),
                reason,
            },
            None => EhrError::Transport {
                path: path.to_owned(),
                reason: match &err {
                    // A refused or unresolved connection is about the host, which the
                    // operator finds under base_url, not about the path.
                    SendRequestError::Connect(_) => {
                        format!("{err} (host {}, from base_url)", self.host().unwrap_or("?"))
                    }
                    _ => err.to_string(),
                },
            },
        }
    }

    /// The EHR's host and port, as `base_url` names them.
    fn host(&self) -> Option<&str> {
        let after_scheme = self.base.split_once("://")?.1;
        let authority = after_scheme.split(['/', '?']).next()?;
        // Never credentials, should a base_url carry any.
        Some(authority.rsplit('@').next().unwrap_or(authority))
    }
}

fn timed_out(path: &str, phase: TimeoutPhase, after: Duration) -> EhrError {
    EhrError::Timeout {
        path: path.to_owned(),
        phase,
        after,
    }
}
