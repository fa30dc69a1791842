//! Cross-site request forgery, decided as a pure function of the request's method and
//! headers: a page on another site may make a signed-in browser send a request (a form
//! post), but cannot make it send a custom header with a token it cannot read.
//!
//! An unsafe request (POST, PUT, PATCH, DELETE) is refused when
//! - `Sec-Fetch-Site` is present and is neither `same-origin` nor `none` (the browser says
//!   another site, or another port of this one, started it);
//! - `Origin` is present and its host and port differ from `Host`;
//! - it is authenticated by the session cookie, or carries `Origin` (a browser sent it), and
//!   lacks `X-Courier-CSRF` equal to the expected token; the sign-in form is exempt from this
//!   one rule (it has no session yet).
//!
//! The CLI and scripts send none of these headers and are not affected.

use actix_web::http::Method;

use super::host;
use super::same_token;

/// The header an unsafe request of the console carries its CSRF token in.
pub const CSRF_HEADER: &str = "x-courier-csrf";

/// What of a request the decision reads.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The request's method.
    pub method: &'a Method,
    /// `Sec-Fetch-Site`, if sent.
    pub fetch_site: Option<&'a str>,
    /// `Origin`, if sent.
    pub origin: Option<&'a str>,
    /// `Host`, if sent.
    pub host: Option<&'a str>,
    /// Whether the session cookie is what let the request in.
    pub by_cookie: bool,
    /// `X-Courier-CSRF`, if sent.
    pub sent_token: Option<&'a str>,
    /// The token expected: the session's, or the process's when there is no session.
    pub expected_token: &'a str,
    /// Whether the request may go without the token (the sign-in form).
    pub token_exempt: bool,
}

/// Why a request was refused as a possible forgery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// `Sec-Fetch-Site` names another site.
    #[error("refused: this request came from another site (Sec-Fetch-Site)")]
    CrossSite,
    /// `Origin` is not this server.
    #[error("refused: the request's Origin is not this server")]
    ForeignOrigin,
    /// The CSRF token is missing or wrong.
    #[error("refused: header X-Courier-CSRF is missing or wrong (GET /console/session gives it)")]
    MissingToken,
}

/// `Ok` when `request` may go on, else why not.
pub fn check(request: &Request<'_>) -> Result<(), Refusal> {
    if !is_unsafe(request.method) {
        return Ok(());
    }
    if request
        .fetch_site
        .is_some_and(|site| site != "same-origin" && site != "none")
    {
        return Err(Refusal::CrossSite);
    }
    if let Some(origin) = request.origin {
        if !request.host.is_some_and(|host| same_origin(origin, host)) {
            return Err(Refusal::ForeignOrigin);
        }
    }
    let needs_token = !request.token_exempt && (request.by_cookie || request.origin.is_some());
    let token_right = request
        .sent_token
        .is_some_and(|sent| same_token(sent.as_bytes(), request.expected_token.as_bytes()));
    if needs_token && !token_right {
        return Err(Refusal::MissingToken);
    }
    Ok(())
}

/// Methods that change something; the others only read (and browsers send them cross-site
/// freely, but cannot read the answer without CORS, which this server never grants).
fn is_unsafe(method: &Method) -> bool {
    [Method::POST, Method::PUT, Method::PATCH, Method::DELETE].contains(method)
}

/// Whether `origin` (`scheme://host[:port]`) names the same host and port as `host`; a port
/// left out is the scheme's default on both sides. `null` and anything unparsable differ.
fn same_origin(origin: &str, host: &str) -> bool {
    let (Ok(origin), Some(host)) = (url::Url::parse(origin), host::authority(host)) else {
        return false;
    };
    let default_port = match origin.scheme() {
        "http" => 80,
        "https" => 443,
        _ => return false,
    };
    origin
        .host_str()
        .is_some_and(|name| name.eq_ignore_ascii_case(&host.host))
        && origin.port().unwrap_or(default_port) == host.port.unwrap_or(default_port)
}

#[cfg(test)]
mod tests;
