//! `[admin]`: its defaults, and the token that anything but loopback requires.

use std::path::Path;

use super::{errors, parse_ok, valid_with, ORIGIN, VALID};

/// `VALID` with an `[admin]` table after `[store]`, at line 4.
fn with_admin(table: &str) -> String {
    valid_with(
        "path = \"var/courier\"\n",
        &format!("path = \"var/courier\"\n\n[admin]\n{table}\n"),
    )
}

#[test]
fn admin_defaults_to_loopback_without_a_token() {
    let config = parse_ok(VALID);
    assert!(config.admin.enabled);
    assert_eq!(config.admin.listen.to_string(), "127.0.0.1:9464");
    assert!(config.admin.token.is_none());
}

#[test]
fn a_non_loopback_address_without_token_env_is_refused() {
    assert_eq!(
        errors(&with_admin("listen = \"0.0.0.0:9464\"")),
        "config/courier.toml:5: admin.listen: 0.0.0.0:9464 is not a loopback address: set \
         token_env to require a bearer token (the admin API can pause connections and reload \
         the configuration)"
    );
}

#[test]
fn a_non_loopback_address_with_a_token_is_accepted_and_the_token_stays_secret() {
    let config = parse_ok(&with_admin(
        "listen = \"0.0.0.0:9464\"\ntoken_env = \"COURIER_APP_SECRET\"",
    ));
    let token = config.admin.token.expect("a token");
    assert!(token.expose().starts_with("whsec_"));
    assert_eq!(format!("{token:?}"), "Secret(<redacted>)");
}

#[test]
fn an_unset_token_variable_and_a_malformed_address_are_reported() {
    assert_eq!(
        errors(&with_admin(
            "listen = \"localhost\"\ntoken_env = \"COURIER_NO_TOKEN\""
        )),
        "config/courier.toml:5: admin.listen: \"localhost\" is not an address and port such \
         as \"127.0.0.1:9464\"\n\
         config/courier.toml:6: admin.token_env: environment variable COURIER_NO_TOKEN is not set"
    );
}

#[test]
fn a_disabled_admin_api_needs_no_token_anywhere() {
    let config = parse_ok(&with_admin("enabled = false\nlisten = \"0.0.0.0:1\""));
    assert!(!config.admin.enabled);
}

#[test]
fn an_admin_token_shorter_than_sixteen_characters_is_refused() {
    let text = with_admin("token_env = \"COURIER_ADMIN_TOKEN\"");
    let with_token = |token: &'static str| {
        move |name: &str| match name {
            "COURIER_ADMIN_TOKEN" => Some(token.to_owned()),
            _ => super::env(name),
        }
    };
    let refused = crate::config::parse(&text, Path::new(ORIGIN), &with_token("x"))
        .expect_err("a one-character token is refused");
    assert_eq!(
        refused.to_string(),
        "config/courier.toml:5: admin.token_env: the token is too short to resist guessing: \
         16 characters at least, it has 1"
    );
    let fifteen = crate::config::parse(&text, Path::new(ORIGIN), &with_token("fifteen-chars-x"));
    assert!(fifteen.is_err());
    let sixteen = crate::config::parse(&text, Path::new(ORIGIN), &with_token("sixteen-chars-xy"));
    let token = sixteen.expect("sixteen characters are enough").admin.token;
    assert_eq!(token.unwrap().expose(), "sixteen-chars-xy");
}
