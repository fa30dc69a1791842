//! OAuth 2.0 access tokens from a token endpoint (client credentials, with a client secret or
//! a SMART client assertion): requested by one caller at a time, cached, and refreshed a
//! little before they expire.

use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

use crate::clock::Clock;
use actix_web::http::header::{self, HeaderValue};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ring::rand::SystemRandom;
use url::form_urlencoded;

use super::jwt;
use super::response::{self, failure, Issued};
use crate::config::{ClientAuth, ClientCredentialsAuth, SmartBackendAuth};
use crate::ehr::EhrError;
use crate::retry::parse_retry_after;

/// Largest token endpoint answer read; a token answer is a few KiB at most.
const ANSWER_AT_MOST: usize = 64 * 1024;

/// Refresh at most this long before a token expires...
const REFRESH_MARGIN_AT_MOST: Duration = Duration::from_secs(60);
/// ...and at most this fraction of its lifetime before, so short-lived tokens are still used.
const REFRESH_MARGIN_FRACTION: u32 = 10;

/// The grants a [`TokenSource`] can ask for.
pub(super) enum Grant {
    /// Client id and secret.
    ClientCredentials(ClientCredentialsAuth),
    /// Client id and a signed assertion.
    SmartBackend(SmartBackendAuth),
}

/// A cached access token.
struct Token {
    header: HeaderValue,
    /// When to stop using it: ahead of its expiry by the refresh margin.
    refresh_at: Instant,
}

/// One connection's access tokens.
///
/// Concurrent callers share one request: the first takes `turn` and asks; the others wait
/// for the turn, then find the fresh token (or the error of that same attempt) instead of
/// asking again, so a connection never stampedes its token endpoint.
pub(super) struct TokenSource {
    grant: Grant,
    http: awc::Client,
    timeout: Duration,
    cached: RefCell<Option<Token>>,
    /// Held while a token is requested.
    turn: tokio::sync::Mutex<()>,
    /// Counts finished requests, so a waiter can tell that one ended while it waited.
    attempts: Cell<u64>,
    /// The error of the last request, shared with the callers that waited for it.
    last_error: RefCell<Option<EhrError>>,
    rng: SystemRandom,
    /// What a token's freshness is measured by.
    pub(super) clock: Clock,
}

impl TokenSource {
    /// A token source for `grant`, asking with `http` within `timeout`.
    pub fn new(grant: Grant, http: awc::Client, timeout: Duration) -> Self {
        Self {
            grant,
            http,
            timeout,
            cached: RefCell::new(None),
            turn: tokio::sync::Mutex::new(()),
            attempts: Cell::new(0),
            last_error: RefCell::new(None),
            rng: SystemRandom::new(),
            clock: Clock::system(),
        }
    }

    /// The `Authorization` value of a valid token, asking the endpoint when there is none.
    pub async fn header(&self) -> Result<HeaderValue, EhrError> {
        if let Some(header) = self.fresh() {
            return Ok(header);
        }
        let seen = self.attempts.get();
        let _turn = self.turn.lock().await;
        if let Some(header) = self.fresh() {
            return Ok(header);
        }
        if self.attempts.get() != seen {
            // A request ended while we waited and left no token: share its error.
            if let Some(error) = self.last_error.borrow().clone() {
                return Err(error);
            }
        }
        let asked_at = self.clock.instant();
        let result = self.request().await;
        self.attempts.set(self.attempts.get() + 1);
        match result {
            Ok(issued) => {
                self.last_error.replace(None);
                self.cached.replace(Some(Token {
                    header: issued.header.clone(),
                    refresh_at: asked_at + usable_for(issued.lifetime),
                }));
                Ok(issued.header)
            }
            Err(error) => {
                self.last_error.replace(Some(error.clone()));
                Err(error)
            }
        }
    }

    /// Forgets the cached token, so the next caller asks for a new one.
    pub fn invalidate(&self) {
        self.cached.replace(None);
    }

    /// Forgets the cached token if it is still `sent`: of many requests refused with the
    /// same old token, only the first costs a new one.
    pub fn reject(&self, sent: &HeaderValue) {
        let current = self.cached.borrow().as_ref().map(|t| t.header == sent);
        if current == Some(true) {
            self.invalidate();
        }
    }

    fn fresh(&self) -> Option<HeaderValue> {
        let cached = self.cached.borrow();
        let token = cached.as_ref()?;
        (self.clock.instant() < token.refresh_at).then(|| token.header.clone())
    }

    /// Asks the endpoint, within the timeout (connect, answer and body together).
    async fn request(&self) -> Result<Issued, EhrError> {
        match actix_rt::time::timeout(self.timeout, self.ask()).await {
            Ok(result) => result,
            Err(_) => Err(self.timed_out()),
        }
    }

    async fn ask(&self) -> Result<Issued, EhrError> {
        let form = self.form()?;
        let mut request = self
            .http
            .post(self.token_url().as_str())
            .insert_header((header::ACCEPT, "application/json"))
            .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"));
        if let Some(credentials) = &form.basic {
            request = request.insert_header((header::AUTHORIZATION, credentials.clone()));
        }
        let mut answer = request.send_body(form.body).await.map_err(|e| match e {
            awc::error::SendRequestError::Timeout => self.timed_out(),
            other => {
                let reason = format!("the token request to {} failed: {other}", self.token_url());
                failure(None, None, reason)
            }
        })?;
        let status = answer.status().as_u16();
        let retry_after = answer
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, self.clock.now()));
        let body = answer.body().limit(ANSWER_AT_MOST).await.map_err(|e| {
            let reason = format!("reading the token endpoint's answer failed: {e}");
            failure(None, retry_after, reason)
        })?;
        let sent: Vec<&str> = form.secrets.iter().map(String::as_str).collect();
        response::issued(status, retry_after, &body, &sent)
    }

    fn timed_out(&self) -> EhrError {
        let reason = format!(
            "the token request to {} timed out after {:?}",
            self.token_url(),
            self.timeout
        );
        failure(None, None, reason)
    }

    fn token_url(&self) -> &url::Url {
        match &self.grant {
            Grant::ClientCredentials(auth) => &auth.token_url,
            Grant::SmartBackend(auth) => &auth.token_url,
        }
    }

    /// The form body of the token request, and the HTTP Basic credentials when the client
    /// secret goes in a header.
    fn form(&self) -> Result<TokenForm, EhrError> {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "client_credentials");
        let (basic, secrets) = match &self.grant {
            Grant::ClientCredentials(auth) => {
                if let Some(scope) = &auth.scope {
                    form.append_pair("scope", scope);
                }
                let secret = auth.client_secret.expose();
                let mut secrets = vec![secret.to_owned()];
                let basic = match auth.client_auth {
                    ClientAuth::Basic => {
                        let header = basic_credentials(&auth.client_id, secret);
                        // The credentials too: their base64 mixes the id into the secret's.
                        let value = header.to_str().unwrap_or_default();
                        secrets.push(value.trim_start_matches("Basic ").to_owned());
                        Some(header)
                    }
                    ClientAuth::Post => {
                        form.append_pair("client_id", &auth.client_id);
                        form.append_pair("client_secret", secret);
                        None
                    }
                };
                (basic, secrets)
            }
            Grant::SmartBackend(auth) => {
                let assertion = jwt::client_assertion(auth, self.clock.now(), &self.rng)
                    .map_err(|e| failure(None, None, e.to_string()))?;
                form.append_pair("scope", &auth.scope);
                form.append_pair("client_assertion_type", jwt::ASSERTION_TYPE);
                form.append_pair("client_assertion", &assertion);
                (None, vec![assertion])
            }
        };
        Ok(TokenForm {
            body: form.finish(),
            basic,
            secrets,
        })
    }
}

/// A token request about to be sent; not `Debug`, it holds secrets.
struct TokenForm {
    body: String,
    basic: Option<HeaderValue>,
    /// The secrets in this request, which an error answer must not be allowed to repeat.
    secrets: Vec<String>,
}

/// How long a token of `lifetime` is used: until a margin before it expires, the smaller of
/// a minute and a tenth of its lifetime, so a slow request never carries an expired token.
pub(super) fn usable_for(lifetime: Duration) -> Duration {
    let margin = REFRESH_MARGIN_AT_MOST.min(lifetime / REFRESH_MARGIN_FRACTION);
    lifetime - margin
}

/// `client_secret_basic` (RFC 6749 §2.3.1): id and secret are form-urlencoded before they
/// are joined and base64-encoded, so a `:` in either survives.
pub(super) fn basic_credentials(client_id: &str, secret: &str) -> HeaderValue {
    let encode = |text: &str| form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
    let pair = format!("{}:{}", encode(client_id), encode(secret));
    sensitive(&format!("Basic {}", STANDARD.encode(pair)))
}

/// A header value (always visible ASCII here) that `Debug` shows as `Sensitive`.
pub(super) fn sensitive(value: &str) -> HeaderValue {
    let mut header = HeaderValue::from_str(value).unwrap_or_else(|_| HeaderValue::from_static(""));
    header.set_sensitive(true);
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_refreshed_a_minute_or_a_tenth_of_their_life_early() {
        let secs = |s| Duration::from_secs(s);
        assert_eq!(usable_for(secs(3600)), secs(3540));
        assert_eq!(usable_for(secs(300)), secs(270));
        assert_eq!(usable_for(secs(10)), secs(9));
        assert_eq!(usable_for(Duration::ZERO), Duration::ZERO);
        assert_eq!(usable_for(response::DEFAULT_LIFETIME), secs(270));
    }

    #[test]
    fn basic_credentials_are_form_encoded_then_base64() {
        let header = basic_credentials("my client", "p:ss&w");
        let encoded = header.to_str().unwrap().strip_prefix("Basic ").unwrap();
        let decoded = String::from_utf8(STANDARD.decode(encoded).unwrap()).unwrap();
        assert_eq!(decoded, "my+client:p%3Ass%26w");
        assert!(header.is_sensitive());
    }
}
