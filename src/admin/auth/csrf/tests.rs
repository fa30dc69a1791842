//! The CSRF decision over methods and headers: what a browser on another site can send is
//! refused, what the console and the CLI send goes through.

use actix_web::http::Method;

use super::{check, same_origin, Refusal, Request};

const TOKEN: &str = "session-csrf-token-0123456789";

/// A POST as the console's script sends it: same origin, cookie, the right token.
fn console_post() -> Request<'static> {
    Request {
        method: &Method::POST,
        fetch_site: Some("same-origin"),
        origin: Some("http://127.0.0.1:9464"),
        host: Some("127.0.0.1:9464"),
        by_cookie: true,
        sent_token: Some(TOKEN),
        expected_token: TOKEN,
        token_exempt: false,
    }
}

/// A POST as the CLI sends it: a bearer token and none of the browser's headers.
fn cli_post() -> Request<'static> {
    Request {
        method: &Method::POST,
        fetch_site: None,
        origin: None,
        host: Some("127.0.0.1:9464"),
        by_cookie: false,
        sent_token: None,
        expected_token: TOKEN,
        token_exempt: false,
    }
}

#[test]
fn the_console_and_the_cli_go_through() {
    assert_eq!(check(&console_post()), Ok(()));
    assert_eq!(check(&cli_post()), Ok(()));
    let typed = Request {
        fetch_site: Some("none"),
        ..console_post()
    };
    assert_eq!(check(&typed), Ok(()));
}

#[test]
fn every_unsafe_method_is_checked_and_safe_ones_are_not() {
    for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
        let request = Request {
            method: &method,
            sent_token: None,
            ..console_post()
        };
        assert_eq!(check(&request), Err(Refusal::MissingToken), "{method}");
    }
    for method in [Method::GET, Method::HEAD, Method::OPTIONS] {
        let request = Request {
            method: &method,
            fetch_site: Some("cross-site"),
            origin: Some("https://evil.example"),
            sent_token: None,
            ..console_post()
        };
        assert_eq!(check(&request), Ok(()), "{method}");
    }
}

#[test]
fn a_request_another_site_started_is_refused() {
    for site in ["cross-site", "same-site", "anything"] {
        let request = Request {
            fetch_site: Some(site),
            ..console_post()
        };
        assert_eq!(check(&request), Err(Refusal::CrossSite), "{site}");
    }
}

#[test]
fn an_origin_other_than_the_host_is_refused_even_with_the_token() {
    for origin in [
        "https://evil.example",
        "http://127.0.0.1:9465",
        "http://localhost:9464",
        "null",
        "not a url",
    ] {
        let request = Request {
            origin: Some(origin),
            fetch_site: None,
            ..console_post()
        };
        assert_eq!(check(&request), Err(Refusal::ForeignOrigin), "{origin}");
    }
    let no_host = Request {
        host: None,
        ..console_post()
    };
    assert_eq!(check(&no_host), Err(Refusal::ForeignOrigin));
}

#[test]
fn a_cookie_or_an_origin_without_the_right_token_is_refused() {
    let cookie_only = Request {
        origin: None,
        fetch_site: None,
        sent_token: None,
        ..console_post()
    };
    assert_eq!(check(&cookie_only), Err(Refusal::MissingToken));
    let wrong = Request {
        sent_token: Some("session-csrf-token-0123456788"),
        ..console_post()
    };
    assert_eq!(check(&wrong), Err(Refusal::MissingToken));
    let origin_without_cookie = Request {
        by_cookie: false,
        sent_token: None,
        ..console_post()
    };
    assert_eq!(check(&origin_without_cookie), Err(Refusal::MissingToken));
}

#[test]
fn the_sign_in_form_needs_no_token_but_must_come_from_this_server() {
    let sign_in = Request {
        by_cookie: false,
        sent_token: None,
        token_exempt: true,
        ..console_post()
    };
    assert_eq!(check(&sign_in), Ok(()));
    let forged = Request {
        origin: Some("https://evil.example"),
        fetch_site: Some("cross-site"),
        ..sign_in
    };
    assert_eq!(check(&forged), Err(Refusal::CrossSite));
}

#[test]
fn origins_match_hosts_by_host_and_port_with_default_ports() {
    assert!(same_origin("http://127.0.0.1:9464", "127.0.0.1:9464"));
    assert!(same_origin("http://Courier.Example", "courier.example:80"));
    assert!(same_origin("https://courier.example", "courier.example"));
    assert!(same_origin("http://[::1]:9464", "[::1]:9464"));
    assert!(!same_origin(
        "https://courier.example",
        "courier.example:80"
    ));
    assert!(!same_origin(
        "http://courier.example",
        "courier.example.evil"
    ));
    assert!(!same_origin("ftp://courier.example", "courier.example"));
}
