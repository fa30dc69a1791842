//! Who is looking: the name written beside every audited action of the console (a body view),
//! so a privacy officer can answer "who saw this patient's notification" from the log alone.

use std::fmt;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};

/// How a request was let in, and by whom; the auth middleware puts one in every request's
/// extensions. Never holds a token or a session id, only what may be logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Viewer {
    /// Signed in to the console: the name given at sign-in and the peer's address.
    Session {
        /// The name typed at sign-in (printable, at most 64 characters).
        name: String,
        /// The peer's IP address.
        peer: String,
    },
    /// A bearer token (the CLI, a script): only the peer's address is known.
    Bearer {
        /// The peer's IP address.
        peer: String,
    },
    /// No token configured (loopback): anyone on this machine.
    Loopback {
        /// The peer's IP address.
        peer: String,
    },
}

impl Viewer {
    /// The viewer of a request the middleware did not mark (it always does when it runs): the
    /// peer's address, as for an open loopback API.
    fn unmarked(req: &HttpRequest) -> Self {
        Self::Loopback { peer: peer_ip(req) }
    }
}

/// The peer's IP address (no port), or `unknown`.
pub fn peer_ip(req: &HttpRequest) -> String {
    req.peer_addr()
        .map(|addr| addr.ip().to_string())
        .unwrap_or_else(|| "unknown".to_owned())
}

impl fmt::Display for Viewer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Session { name, peer } => write!(f, "{name:?} (signed in, from {peer})"),
            Self::Bearer { peer } => write!(f, "bearer token (from {peer})"),
            Self::Loopback { peer } => write!(f, "loopback (from {peer})"),
        }
    }
}

impl FromRequest for Viewer {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let viewer = req.extensions().get::<Viewer>().cloned();
        std::future::ready(Ok(viewer.unwrap_or_else(|| Self::unmarked(req))))
    }
}
