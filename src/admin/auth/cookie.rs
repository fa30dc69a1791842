//! The console's session cookie: read from `Cookie` headers, written as `Set-Cookie` values.
//! HttpOnly (no script reads it), SameSite=Strict (no other site's request carries it), and
//! Path=/ (the console and the API it calls). Not `Secure`: the admin listener speaks plain
//! HTTP, and a browser drops a Secure cookie set over it.

use std::time::Duration;

/// The cookie's name.
pub const SESSION_COOKIE: &str = "courier_session";

/// The session id in `cookie_headers` (each a `Cookie` value: `a=1; b=2`), the first
/// `courier_session` found; `None` when there is none or it is empty.
pub fn session_id<'a>(cookie_headers: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    cookie_headers
        .into_iter()
        .flat_map(|header| header.split(';'))
        .filter_map(|pair| pair.split_once('='))
        .find(|(name, _)| name.trim() == SESSION_COOKIE)
        .map(|(_, value)| value.trim().trim_matches('"'))
        .filter(|value| !value.is_empty())
}

/// The `Set-Cookie` value that gives a browser session `id` for `lifetime`.
pub fn set(id: &str, lifetime: Duration) -> String {
    format!(
        "{SESSION_COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
        lifetime.as_secs()
    )
}

/// The `Set-Cookie` value that makes a browser forget the session cookie.
pub fn clear() -> String {
    format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others_in_any_header() {
        assert_eq!(session_id(["courier_session=abc"]), Some("abc"));
        assert_eq!(
            session_id(["theme=dark; courier_session=abc-_9; lang=en"]),
            Some("abc-_9")
        );
        assert_eq!(
            session_id(["theme=dark", "courier_session=\"abc\""]),
            Some("abc")
        );
        assert_eq!(
            session_id(["courier_session=first; courier_session=second"]),
            Some("first")
        );
    }

    #[test]
    fn no_session_cookie_is_none() {
        for headers in [
            vec![],
            vec![""],
            vec!["theme=dark"],
            vec!["courier_session="],
            vec!["courier_session"],
            vec!["xcourier_session=abc; courier_sessionx=abc"],
        ] {
            assert_eq!(session_id(headers.clone()), None, "{headers:?}");
        }
    }

    #[test]
    fn the_cookie_is_http_only_same_site_strict_for_the_session_lifetime() {
        let value = set("abc", Duration::from_secs(43_200));
        assert_eq!(
            value,
            "courier_session=abc; HttpOnly; SameSite=Strict; Path=/; Max-Age=43200"
        );
        assert!(clear().starts_with("courier_session=;"));
        assert!(clear().ends_with("Max-Age=0"));
    }
}
