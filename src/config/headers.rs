//! `[destinations.<id>.headers_env]`: extra request headers whose values come from the
//! environment, for receivers behind an API gateway (`Authorization = "GATEWAY_TOKEN"`).

use std::collections::BTreeMap;

use actix_web::http::header::{HeaderName, HeaderValue};

use super::locate::KeyPath;
use super::validate::Checker;

/// Headers Courier sets itself: a configured one would break the signature or the request.
const RESERVED: [&str; 6] = [
    "content-type",
    "content-length",
    "host",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
];

/// Checks every `name = "ENV_VAR"` pair; the values are marked sensitive, so they never show
/// in debug output. `None` once a problem was reported.
pub(super) fn headers_env(
    check: &mut Checker<'_>,
    path: &KeyPath,
    raw: Option<&BTreeMap<String, String>>,
) -> Option<Vec<(HeaderName, HeaderValue)>> {
    let mut headers = Vec::new();
    let mut valid = true;
    for (name, var) in raw.into_iter().flatten() {
        let key = path.key(name);
        let header = match HeaderName::from_bytes(name.as_bytes()) {
            Ok(header) if RESERVED.contains(&header.as_str()) => {
                check.report(&key, "Courier sets this header itself");
                None
            }
            Ok(header) => Some(header),
            Err(_) => {
                check.report(&key, "not a valid HTTP header name");
                None
            }
        };
        let value = check.env_secret(&key, var).and_then(|secret| {
            let value = HeaderValue::from_str(secret.expose()).ok();
            if value.is_none() {
                let message =
                    format!("environment variable {var} holds characters a header cannot carry");
                check.report(&key, message);
            }
            value
        });
        match (header, value) {
            (Some(header), Some(mut value)) => {
                value.set_sensitive(true);
                headers.push((header, value));
            }
            _ => valid = false,
        }
    }
    valid.then_some(headers)
}
