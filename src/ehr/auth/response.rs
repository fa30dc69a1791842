//! Reading a token endpoint's answer (RFC 6749 §5): an access token and its lifetime, or an
//! [`EhrError::Auth`] that says why not without repeating anything secret.

use std::time::Duration;

use actix_web::http::header::HeaderValue;
use serde_json::Value;

use super::echo::Secrets;
use crate::ehr::EhrError;

/// Lifetime assumed when the endpoint does not say (`expires_in` is only RECOMMENDED):
/// short, so a token that expires sooner than we think costs one 401 and one refresh.
pub(super) const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);

/// Longest lifetime believed; a larger `expires_in` is most likely a unit mistake, and a
/// daily refresh costs nothing.
const LONGEST_LIFETIME: Duration = Duration::from_secs(86_400);

/// Longest `error_description` repeated in an error.
const DESCRIPTION_AT_MOST: usize = 200;

/// An access token, ready to send.
pub(super) struct Issued {
    /// `Bearer <token>`, marked sensitive.
    pub header: HeaderValue,
    /// How long the endpoint said the token lives (bounded, defaulted).
    pub lifetime: Duration,
}

/// Reads an answer of HTTP `status` with `body`. `sent` are the secrets of the request (the
/// client secret, the Basic credentials, the assertion): a text of the answer that repeats
/// one, in any encoding or in part, is left out (see [`Secrets`]).
pub(super) fn issued(
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
    sent: &[&str],
) -> Result<Issued, EhrError> {
    let json = serde_json::from_slice::<Value>(body);
    let sent = &Secrets::new(sent);
    if !(200..300).contains(&status) {
        let details = json.ok().and_then(|json| oauth_error(&json, sent));
        let reason = match details {
            Some(details) => format!("the token endpoint answered HTTP {status} ({details})"),
            None => format!("the token endpoint answered HTTP {status}"),
        };
        return Err(failure(Some(status), retry_after, reason));
    }
    // serde_json's syntax errors give a position, never the text.
    let json = json.map_err(|e| {
        failure(
            None,
            None,
            format!("the token endpoint's answer is not JSON ({e})"),
        )
    })?;
    let Some(token) = json.get("access_token").and_then(Value::as_str) else {
        let reason = "the token endpoint's answer has no access_token".to_owned();
        return Err(failure(None, None, reason));
    };
    if let Some(kind) = json.get("token_type").and_then(Value::as_str) {
        if !kind.eq_ignore_ascii_case("bearer") {
            let reason = format!(
                "the token endpoint issued a token of type {}; only Bearer tokens are supported",
                code(kind)
                    .filter(|kind| !sent.repeated_in(kind))
                    .unwrap_or("(unreadable)")
            );
            return Err(failure(None, None, reason));
        }
    }
    let header = bearer(token).ok_or_else(|| {
        let reason = "the token endpoint issued an access token that cannot be sent in an \
                      HTTP header"
            .to_owned();
        failure(None, None, reason)
    })?;
    Ok(Issued {
        header,
        lifetime: lifetime(json.get("expires_in")),
    })
}

/// `Bearer <token>`, when the token is non-empty visible ASCII.
fn bearer(token: &str) -> Option<HeaderValue> {
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    let mut header = HeaderValue::from_str(&format!("Bearer {token}")).ok()?;
    header.set_sensitive(true);
    Some(header)
}

/// The token's lifetime from `expires_in`, a number of seconds (some servers send it as a
/// string); missing or unreadable means [`DEFAULT_LIFETIME`].
pub(super) fn lifetime(expires_in: Option<&Value>) -> Duration {
    let secs = match expires_in {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match secs {
        Some(secs) if secs.is_finite() && secs >= 0.0 => {
            Duration::from_secs_f64(secs.min(LONGEST_LIFETIME.as_secs_f64()))
        }
        _ => DEFAULT_LIFETIME,
    }
}

/// `invalid_client: <description>` from an OAuth error answer, as far as it is safe to show.
fn oauth_error(json: &Value, sent: &Secrets) -> Option<String> {
    let error = code(json.get("error")?.as_str()?).filter(|error| !sent.repeated_in(error))?;
    let description = json
        .get("error_description")
        .and_then(Value::as_str)
        .and_then(|text| description(text, sent));
    Some(match description {
        Some(description) => format!("{error}: {description}"),
        None => error.to_owned(),
    })
}

/// An OAuth `error` code or token type, when it looks like one: a short identifier.
fn code(text: &str) -> Option<&str> {
    let looks_like_code = (1..=64).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    looks_like_code.then_some(text)
}

/// An `error_description` fit to repeat: printable ASCII on one line, shortened, and left out
/// entirely when it repeats a secret we sent (a server echoing the request).
fn description(text: &str, sent: &Secrets) -> Option<String> {
    let text = text.trim();
    let printable = !text.is_empty() && text.bytes().all(|b| b == b' ' || b.is_ascii_graphic());
    if !printable || sent.repeated_in(text) {
        return None;
    }
    if text.len() <= DESCRIPTION_AT_MOST {
        Some(text.to_owned())
    } else {
        Some(format!("{}…", &text[..DESCRIPTION_AT_MOST]))
    }
}

pub(super) fn failure(
    status: Option<u16>,
    retry_after: Option<Duration>,
    reason: String,
) -> EhrError {
    EhrError::Auth {
        status,
        retry_after,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reason(result: Result<Issued, EhrError>) -> String {
        match result {
            Ok(_) => panic!("accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_bearer_token_is_read_with_its_lifetime() {
        let body = br#"{"access_token":"abc.def","token_type":"bearer","expires_in":3599}"#;
        let issued = issued(200, None, body, &[]).unwrap();
        assert_eq!(issued.header.to_str().unwrap(), "Bearer abc.def");
        assert!(issued.header.is_sensitive());
        assert_eq!(issued.lifetime, Duration::from_secs(3599));
    }

    #[test]
    fn expires_in_is_defaulted_bounded_and_read_from_strings() {
        assert_eq!(lifetime(None), DEFAULT_LIFETIME);
        assert_eq!(lifetime(Some(&json!("600"))), Duration::from_secs(600));
        assert_eq!(lifetime(Some(&json!(-5))), DEFAULT_LIFETIME);
        assert_eq!(lifetime(Some(&json!("soon"))), DEFAULT_LIFETIME);
        assert_eq!(lifetime(Some(&json!(1e300))), LONGEST_LIFETIME);
        assert_eq!(lifetime(Some(&json!(0))), Duration::ZERO);
    }

    #[test]
    fn an_oauth_error_shows_its_code_and_a_safe_description() {
        let body =
            br#"{"error":"invalid_client","error_description":"Client authentication failed"}"#;
        let error = issued(401, None, body, &["s3cret"]).err().unwrap();
        assert_eq!(
            error.to_string(),
            "authenticating to the EHR failed: the token endpoint answered HTTP 401 \
             (invalid_client: Client authentication failed)"
        );
        assert!(error.needs_operator());
        assert_eq!(error.kind(), "auth");
    }

    #[test]
    fn a_description_that_echoes_a_secret_or_is_not_text_is_left_out() {
        let echo = br#"{"error":"invalid_client","error_description":"bad secret s3cret"}"#;
        let text = reason(issued(401, None, echo, &["s3cret"]));
        assert!(text.ends_with("HTTP 401 (invalid_client)"), "{text}");
        let odd = br#"{"error":"<script>","error_description":"x"}"#;
        assert!(reason(issued(400, None, odd, &[])).ends_with("HTTP 400"));
    }

    /// Issue 12: only a verbatim copy of the secret was left out, so its percent-encoded
    /// form, the Basic credentials and half of it reached the log and the status.
    #[test]
    fn a_description_that_echoes_a_secret_encoded_or_in_part_is_left_out() {
        let sent = [
            "Sp3c+al/=&secret-42",
            "Y291cmllcjpTcDNjJTJCYWwlMkYlM0QlMjZzZWNyZXQtNDI",
        ];
        for echo in [
            "Sp3c%2Bal%2F%3D%26secret-42",
            "Basic Y291cmllcjpTcDNjJTJCYWwlMkYlM0QlMjZzZWNyZXQtNDI",
            "courier:Sp3c%2Bal%2F%3D%26secret-42",
            "Sp3c+al/=",
            "&secret-42",
        ] {
            let body = json!({
                "error": "invalid_client",
                "error_description": format!("bad credentials [{echo}]"),
            });
            let text = reason(issued(400, None, body.to_string().as_bytes(), &sent));
            assert!(
                text.ends_with("HTTP 400 (invalid_client)"),
                "{echo}: {text}"
            );
        }
    }

    /// Found by the `token_response` fuzz target: only `error_description` was checked for
    /// an echoed secret, while the `error` code (and `token_type`) were repeated as long as
    /// they looked like identifiers, which a client secret can.
    #[test]
    fn an_error_code_or_token_type_that_echoes_a_secret_is_left_out() {
        let echo = br#"{"error":"bad-s3cret-x","error_description":"x"}"#;
        let text = reason(issued(401, None, echo, &["s3cret"]));
        assert!(
            text.ends_with("the token endpoint answered HTTP 401"),
            "{text}"
        );
        let kind = br#"{"access_token":"t","token_type":"mac-s3cret"}"#;
        let text = reason(issued(200, None, kind, &["s3cret"]));
        assert!(text.contains("a token of type (unreadable)"), "{text}");
        assert!(!text.contains("s3cret"));
    }

    #[test]
    fn unusable_answers_are_auth_errors_that_repeat_nothing() {
        let cases: [(&[u8], &str); 4] = [
            (
                b"<html>oops</html>",
                "the token endpoint's answer is not JSON (expected value at line 1 column 1)",
            ),
            (
                br#"{"token_type":"Bearer"}"#,
                "the token endpoint's answer has no access_token",
            ),
            (
                br#"{"access_token":"t0k","token_type":"DPoP"}"#,
                "the token endpoint issued a token of type DPoP; only Bearer tokens are supported",
            ),
            (
                b"{\"access_token\":\"t0k\\nX\"}",
                "the token endpoint issued an access token that cannot be sent in an HTTP header",
            ),
        ];
        for (body, expected) in cases {
            let error = issued(200, None, body, &[]).err().unwrap();
            assert_eq!(
                error.to_string(),
                format!("authenticating to the EHR failed: {expected}")
            );
            assert!(!error.needs_operator());
            assert!(!error.to_string().contains("t0k"));
        }
    }

    #[test]
    fn a_server_error_keeps_its_status_and_retry_after() {
        let error = issued(503, Some(Duration::from_secs(7)), b"busy", &[])
            .err()
            .unwrap();
        assert_eq!(error.retry_after(), Some(Duration::from_secs(7)));
        assert!(!error.needs_operator());
        assert_eq!(
            error.to_string(),
            "authenticating to the EHR failed: the token endpoint answered HTTP 503"
        );
    }
}
