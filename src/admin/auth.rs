//! Who may use the admin API, decided once per request before any handler. A request is let
//! in by, in this order: `Authorization: Bearer <token>` (the CLI, scripts; the scheme in any
//! case), the console's session cookie naming a live session, or, when no token is
//! configured, by being on loopback. Every admitted request carries its [`Viewer`] (and its
//! session, if any) in its extensions.
//!
//! Refused: without a token configured, a `Host` that is not a loopback literal or
//! `localhost` (403: DNS rebinding); without authentication, a console page (303 to the
//! sign-in form) or anything else (401); an unsafe request that may be a cross-site forgery
//! (403, see [`csrf`]); a bearer token from an address that sent too many wrong ones (429,
//! see [`wrong_tokens`]). Anyone may reach the sign-in form and its styles.

pub mod cookie;
pub mod csrf;
pub mod host;
pub mod wrong_tokens;

use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpMessage, HttpResponse, ResponseError};

use super::console::sign_in;
use super::session::SignedIn;
use super::viewer::{peer_ip, Viewer};
use super::{AdminState, ApiError};
use wrong_tokens::Checked;

/// Middleware (`middleware::from_fn(admit_or_refuse)`): admits a request as the module says, or
/// answers it.
pub async fn admit_or_refuse(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let Some(state) = req.app_data::<web::Data<AdminState>>().cloned() else {
        let missing = ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "no admin state");
        return Ok(req
            .into_response(missing.error_response())
            .map_into_right_body());
    };
    match admit(&req, &state) {
        Ok(admitted) => {
            if let Some(Admitted { viewer, session }) = admitted {
                req.extensions_mut().insert(viewer);
                if let Some(session) = session {
                    req.extensions_mut().insert(session);
                }
            }
            Ok(next.call(req).await?.map_into_left_body())
        }
        Err(refused) => Ok(req.into_response(refused.answer()).map_into_right_body()),
    }
}

/// How a request was let in.
struct Admitted {
    viewer: Viewer,
    /// The session whose cookie let it in.
    session: Option<SignedIn>,
}

/// What of a request's headers the decisions read.
struct Sent<'a> {
    host: Option<&'a str>,
    origin: Option<&'a str>,
    fetch_site: Option<&'a str>,
    csrf: Option<&'a str>,
    bearer: Option<&'a str>,
}

impl<'a> Sent<'a> {
    fn of(req: &'a ServiceRequest) -> Self {
        let text = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
        Self {
            // HTTP/2 names the host in the request line instead.
            host: text(header::HOST).or_else(|| req.uri().authority().map(|a| a.as_str())),
            origin: text(header::ORIGIN),
            fetch_site: text(header::HeaderName::from_static("sec-fetch-site")),
            csrf: text(header::HeaderName::from_static(csrf::CSRF_HEADER)),
            bearer: text(header::AUTHORIZATION).and_then(bearer_token),
        }
    }
}

/// Why a request was not let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refused {
    /// No token configured and a `Host` that is not loopback.
    ForeignHost,
    /// Not authenticated, on a console page.
    ToSignIn,
    /// Not authenticated, on the API.
    Unauthenticated,
    /// A possible cross-site forgery.
    Forgery(csrf::Refusal),
    /// A bearer token from an address that sent too many wrong ones (see [`wrong_tokens`]):
    /// retry after the duration.
    Throttled(Duration),
}

impl Refused {
    fn answer(self) -> HttpResponse {
        match self {
            Self::ForeignHost => forbidden(
                "refused: without a token, this admin API answers only requests addressed to \
                 a loopback address or localhost",
            ),
            Self::ToSignIn => HttpResponse::SeeOther()
                .insert_header((header::LOCATION, sign_in::SIGN_IN_PATH))
                .finish(),
            Self::Unauthenticated => {
                let mut response = ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "this admin API requires Authorization: Bearer <token>",
                )
                .error_response();
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("Bearer"),
                );
                response
            }
            Self::Forgery(refusal) => forbidden(&refusal.to_string()),
            Self::Throttled(wait) => too_many_wrong_tokens(wait),
        }
    }
}

/// The request's admission (`None`: anonymous, on a path open to all), or why it is refused.
fn admit(req: &ServiceRequest, state: &AdminState) -> Result<Option<Admitted>, Refused> {
    let sent = Sent::of(req);
    // A browser always sends Host; a request without one is not a rebinding page.
    if state.token.is_none() && sent.host.is_some_and(|host| !host::is_loopback(host)) {
        return Err(Refused::ForeignHost);
    }
    let admitted = authenticate(req, state, &sent)?;
    let (method, path) = (req.method(), req.path());
    if admitted.is_none() && !open_to_all(method, path) {
        return Err(if is_page(method, path) {
            Refused::ToSignIn
        } else {
            Refused::Unauthenticated
        });
    }
    let session = admitted.as_ref().and_then(|a| a.session.as_ref());
    let request = csrf::Request {
        method,
        fetch_site: sent.fetch_site,
        origin: sent.origin,
        host: sent.host,
        by_cookie: session.is_some(),
        sent_token: sent.csrf,
        expected_token: session.map_or(state.sessions.loopback_csrf(), |s| &s.csrf),
        token_exempt: path == sign_in::SIGN_IN_PATH,
    };
    csrf::check(&request).map_err(Refused::Forgery)?;
    Ok(admitted)
}

/// Bearer token, then session cookie, then an open loopback API; `None` when none applies.
/// Refused only when a bearer token comes from a throttled address.
fn authenticate(
    req: &ServiceRequest,
    state: &AdminState,
    sent: &Sent<'_>,
) -> Result<Option<Admitted>, Refused> {
    let peer = peer_ip(req.request());
    let Some(token) = &state.token else {
        let viewer = Viewer::Loopback { peer };
        return Ok(Some(Admitted {
            viewer,
            session: None,
        }));
    };
    if let Some(bearer) = sent.bearer {
        let expected = token.expose().as_bytes();
        match state.wrong_tokens.check(&peer, bearer.as_bytes(), expected) {
            Checked::Right => {
                let viewer = Viewer::Bearer { peer };
                return Ok(Some(Admitted {
                    viewer,
                    session: None,
                }));
            }
            Checked::Throttled(wait) => return Err(Refused::Throttled(wait)),
            // A session cookie may still let it in.
            Checked::Wrong => {}
        }
    }
    let cookies = req.headers().get_all(header::COOKIE);
    let Some(id) = cookie::session_id(cookies.filter_map(|v| v.to_str().ok())) else {
        return Ok(None);
    };
    Ok(state.sessions.find(id).map(|session| Admitted {
        viewer: Viewer::Session {
            name: session.name.clone(),
            peer,
        },
        session: Some(session),
    }))
}

/// The sign-in form, and the styles it links: reachable without signing in.
fn open_to_all(method: &Method, path: &str) -> bool {
    let get = method == Method::GET;
    (path == sign_in::SIGN_IN_PATH && (get || method == Method::POST))
        || (get && sign_in::STYLESHEETS.contains(&path))
}

/// The console's page routes, which send a browser to the sign-in form rather than answer
/// 401 JSON.
fn is_page(method: &Method, path: &str) -> bool {
    method == Method::GET && matches!(path, "/" | "/console" | "/console/")
}

fn forbidden(message: &str) -> HttpResponse {
    ApiError::new(StatusCode::FORBIDDEN, message).error_response()
}

/// 429 with `Retry-After` (whole seconds, rounded up), for a throttled address's token.
fn too_many_wrong_tokens(wait: Duration) -> HttpResponse {
    let secs = retry_after_secs(wait);
    let mut response = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        format!("too many wrong tokens from this address: tokens are refused for {secs} s more"),
    )
    .error_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, secs.into());
    response
}

/// `wait` as a `Retry-After` value: whole seconds, rounded up, at least one.
pub(crate) fn retry_after_secs(wait: Duration) -> u64 {
    (wait + Duration::from_nanos(999_999_999)).as_secs().max(1)
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
pub(crate) fn same_token(sent: &[u8], expected: &[u8]) -> bool {
    sent.len() == expected.len()
        && sent
            .iter()
            .zip(expected)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn only_the_sign_in_form_and_its_styles_are_open_to_all() {
        assert!(open_to_all(&Method::GET, "/console/sign-in"));
        assert!(open_to_all(&Method::POST, "/console/sign-in"));
        assert!(open_to_all(&Method::GET, "/console/assets/console.css"));
        assert!(open_to_all(&Method::GET, "/console/assets/sign_in.css"));
        for (method, path) in [
            (Method::DELETE, "/console/sign-in"),
            (Method::GET, "/console/assets/console.js"),
            (Method::GET, "/console/"),
            (Method::GET, "/console/session"),
            (Method::POST, "/console/sign-out"),
            (Method::GET, "/healthz"),
            (Method::GET, "/console/sign-in/"),
            (Method::GET, "/console//sign-in"),
        ] {
            assert!(!open_to_all(&method, path), "{method} {path}");
        }
    }

    #[test]
    fn only_the_console_pages_redirect_to_sign_in() {
        for path in ["/", "/console", "/console/"] {
            assert!(is_page(&Method::GET, path), "{path}");
        }
        for (method, path) in [
            (Method::GET, "/status"),
            (Method::POST, "/console/"),
            (Method::GET, "/console/session"),
            (Method::GET, "/console/assets/console.js"),
        ] {
            assert!(!is_page(&method, path), "{method} {path}");
        }
        let to_sign_in = Refused::ToSignIn.answer();
        assert_eq!(to_sign_in.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            to_sign_in.headers().get(header::LOCATION).unwrap(),
            "/console/sign-in"
        );
        let unauthenticated = Refused::Unauthenticated.answer();
        assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            unauthenticated
                .headers()
                .get(header::WWW_AUTHENTICATE)
                .unwrap(),
            "Bearer"
        );
        let forgery = Refused::Forgery(csrf::Refusal::CrossSite).answer();
        assert_eq!(forgery.status(), StatusCode::FORBIDDEN);
    }
}
