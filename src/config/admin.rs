//! `[admin]`: the admin API's address and bearer token. Anything but loopback needs a token,
//! since the API can pause connections and reload the configuration.

use std::net::SocketAddr;

use super::locate::KeyPath;
use super::raw::RawAdmin;
use super::validate::Checker;
use super::AdminConfig;

/// Where the admin API listens unless configured: loopback only, a port of its own.
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9464";

/// Fewest characters of an admin token: a shorter one is within reach of guessing, and the
/// API can pause connections, replay notifications and purge dead letters.
pub const TOKEN_AT_LEAST: usize = 16;

/// Checks `[admin]`; `None` after a problem was reported.
pub(super) fn admin(check: &mut Checker<'_>, path: &KeyPath, raw: RawAdmin) -> Option<AdminConfig> {
    let listen_path = path.key("listen");
    let text = raw.listen.as_deref().unwrap_or(DEFAULT_ADMIN_LISTEN);
    let listen = match text.parse::<SocketAddr>() {
        Ok(addr) => Some(addr),
        Err(_) => {
            check.report(
                &listen_path,
                format!("{text:?} is not an address and port such as \"127.0.0.1:9464\""),
            );
            None
        }
    };
    let token_path = path.key("token_env");
    let token = match &raw.token_env {
        Some(var) => Some(check.env_secret(&token_path, var)?),
        None => None,
    };
    if let Some(length) = token.as_ref().map(|token| token.expose().chars().count()) {
        if length < TOKEN_AT_LEAST {
            let reason = format!(
                "the token is too short to resist guessing: {TOKEN_AT_LEAST} characters \
                 at least, it has {length}"
            );
            check.report(&token_path, reason);
            return None;
        }
    }
    let enabled = raw.enabled.unwrap_or(true);
    let listen = listen?;
    if enabled && token.is_none() && !listen.ip().is_loopback() {
        check.report(
            &listen_path,
            format!(
                "{listen} is not a loopback address: set token_env to require a bearer token \
                 (the admin API can pause connections and reload the configuration)"
            ),
        );
        return None;
    }
    Some(AdminConfig {
        enabled,
        listen,
        token,
    })
}
