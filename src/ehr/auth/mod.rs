//! Authentication to the EHR: the `Authorization` header of every request of a connection.
//!
//! - [`Authenticator`]: one per connection, built from its `[auth]` table on the thread that
//!   sends its requests; static credentials, or OAuth 2.0 tokens fetched and cached.
//! - `token`: the token request, the cache and its refresh schedule.
//! - `response`: reading the token endpoint's answer without repeating secrets.
//! - `echo`: whether an answer's text repeats a secret of the request, in any encoding.
//! - `jwt`: the SMART Backend Services client assertion, signed with the client's
//!   [`crate::client_key::ClientKey`] (read from PEM at load).
//!
//! Tokens, secrets, assertions and keys never appear in an error, a log line or a `Debug`
//! output: header values are marked sensitive, secrets are [`crate::config::Secret`]s.

mod echo;
mod jwt;
mod response;
mod token;

pub use jwt::AssertionError;

use std::time::Duration;

use actix_web::http::header::{self, HeaderValue};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use self::token::{Grant, TokenSource};
use crate::clock::Clock;
use crate::config::{AuthConfig, ConnectionConfig};
use crate::ehr::EhrError;

/// Longest time allowed to connect to a token endpoint, whatever the request timeout; the
/// same bound the EHR client uses.
const CONNECT_AT_MOST: Duration = Duration::from_secs(10);

/// Supplies the `Authorization` header of one connection's requests.
///
/// Not `Send`: like the connection's HTTP client, it lives on the connection's worker thread
/// and is shared there (`Rc`) by the poll and the enrichments.
pub struct Authenticator {
    scheme: Scheme,
}

enum Scheme {
    /// No `[auth]` table: no header.
    Anonymous,
    /// Bearer or Basic: the same header every time.
    Static(HeaderValue),
    /// OAuth 2.0: a cached token, refreshed ahead of expiry.
    Token(Box<TokenSource>),
}

impl Authenticator {
    /// The authenticator of a connection: its `[auth]` table, with token requests bounded by
    /// its `request_timeout_ms`. Must run on the thread that sends the requests.
    pub fn for_connection(config: &ConnectionConfig) -> Self {
        Self::new(config.auth.as_ref(), config.request_timeout)
    }

    /// An authenticator for `auth`, whose token requests (if any) time out after `timeout`.
    /// OAuth schemes make their own HTTP client for the token endpoint (no redirects, the
    /// default TLS roots), which needs an actix runtime; static schemes need nothing.
    pub fn new(auth: Option<&AuthConfig>, timeout: Duration) -> Self {
        Self::with_client(auth, None, timeout)
    }

    /// Like [`Self::new`], with the HTTP client for the token endpoint given, such as one
    /// built with the connection's own TLS settings (private CA, client certificate). It
    /// should not follow redirects. Without a client, OAuth schemes make their own.
    pub fn with_client(
        auth: Option<&AuthConfig>,
        http: Option<awc::Client>,
        timeout: Duration,
    ) -> Self {
        let scheme = match auth {
            None => Scheme::Anonymous,
            Some(AuthConfig::Bearer { token }) => {
                Scheme::Static(token::sensitive(&format!("Bearer {}", token.expose())))
            }
            Some(AuthConfig::Basic { username, password }) => {
                let pair = format!("{username}:{}", password.expose());
                Scheme::Static(token::sensitive(&format!(
                    "Basic {}",
                    STANDARD.encode(pair)
                )))
            }
            Some(AuthConfig::ClientCredentials(auth)) => {
                let grant = Grant::ClientCredentials(auth.clone());
                return Self::oauth(grant, http, timeout);
            }
            Some(AuthConfig::SmartBackend(auth)) => {
                let grant = Grant::SmartBackend(auth.clone());
                return Self::oauth(grant, http, timeout);
            }
        };
        Self { scheme }
    }

    /// Times the token cache (freshness, `Retry-After`, assertions) by `clock` instead of the
    /// system clock; static schemes have nothing to time.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        if let Scheme::Token(source) = &mut self.scheme {
            source.clock = clock;
        }
        self
    }

    fn oauth(grant: Grant, http: Option<awc::Client>, timeout: Duration) -> Self {
        let http = http.unwrap_or_else(|| token_client(timeout));
        Self {
            scheme: Scheme::Token(Box::new(TokenSource::new(grant, http, timeout))),
        }
    }

    /// The `Authorization` header value for the next request, `None` for a connection
    /// without `[auth]`. For OAuth this is the cached token while it is fresh; otherwise one
    /// token request, shared by all callers that need it at the same time. A failing token
    /// endpoint is an [`EhrError::Auth`]; the callers waiting for that request get the
    /// same error rather than asking again.
    pub async fn authorization(&self) -> Result<Option<HeaderValue>, EhrError> {
        match &self.scheme {
            Scheme::Anonymous => Ok(None),
            Scheme::Static(header) => Ok(Some(header.clone())),
            Scheme::Token(tokens) => tokens.header().await.map(Some),
        }
    }

    /// Forgets the cached token, so the next [`Self::authorization`] asks for a new one.
    /// Nothing to forget for static credentials.
    pub fn invalidate(&self) {
        if let Scheme::Token(tokens) = &self.scheme {
            tokens.invalidate();
        }
    }

    /// The EHR answered 401 to a request sent with `sent`: forgets that token unless a newer
    /// one replaced it already (so many requests refused at once cost one new token), and
    /// says whether retrying with a fresh [`Self::authorization`] can help, which is only the
    /// case for OAuth tokens.
    pub fn reject(&self, sent: &HeaderValue) -> bool {
        match &self.scheme {
            Scheme::Token(tokens) => {
                tokens.reject(sent);
                true
            }
            Scheme::Anonymous | Scheme::Static(_) => false,
        }
    }
}

/// The HTTP client for a token endpoint: bounded connect time, no redirects (a redirected
/// token request would carry our credentials to another place).
fn token_client(timeout: Duration) -> awc::Client {
    let connector = awc::Connector::new().timeout(timeout.min(CONNECT_AT_MOST));
    awc::Client::builder()
        .connector(connector)
        .timeout(timeout)
        .disable_redirects()
        .add_default_header((
            header::USER_AGENT,
            concat!("courier/", env!("CARGO_PKG_VERSION")),
        ))
        .finish()
}

#[cfg(test)]
pub(crate) mod tests;

/// Entry points for the fuzz targets in `fuzz/`, which cannot reach the private parsers;
/// not part of Courier's API.
#[doc(hidden)]
pub mod fuzzing {
    use std::time::Duration;

    /// Reads a token endpoint's answer as a token request would: the `Authorization` header
    /// and the lifetime, or the error's message. `sent` are the secrets of the request.
    pub fn token_response(
        status: u16,
        body: &[u8],
        sent: &[&str],
    ) -> Result<(String, Duration), String> {
        match super::response::issued(status, None, body, sent) {
            Ok(issued) => {
                let header = issued.header.to_str().map_err(|e| e.to_string())?;
                Ok((header.to_owned(), issued.lifetime))
            }
            Err(error) => Err(error.to_string()),
        }
    }
}
