//! Semantic checks of a connection's `[auth]` table: which keys its `type` takes, and the
//! secrets it names, read at load through the injected environment and from the key file,
//! so that a connection never starts without working credentials.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use super::locate::KeyPath;
use super::raw::RawAuth;
use super::validate::Checker;
use super::{AuthConfig, ClientAuth, ClientCredentialsAuth, SmartBackendAuth};
use crate::client_key::{ClientKey, JwtAlgorithm, KeyError};

/// Largest key file read; a PEM private key is a few KiB, and a bound keeps a mistaken path
/// (a log, a device) from being read whole.
const KEY_FILE_AT_MOST: u64 = 64 * 1024;

/// The kinds of authentication, as `type` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bearer,
    Basic,
    ClientCredentials,
    SmartBackend,
}

impl Kind {
    const ALL: [Kind; 4] = [
        Kind::Bearer,
        Kind::Basic,
        Kind::ClientCredentials,
        Kind::SmartBackend,
    ];

    fn name(self) -> &'static str {
        match self {
            Kind::Bearer => "bearer",
            Kind::Basic => "basic",
            Kind::ClientCredentials => "client_credentials",
            Kind::SmartBackend => "smart_backend",
        }
    }

    /// The keys this type requires, and those it also accepts.
    fn keys(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            Kind::Bearer => (&["token_env"], &[]),
            Kind::Basic => (&["username", "password_env"], &[]),
            Kind::ClientCredentials => (
                &["token_url", "client_id", "client_secret_env"],
                &["scope", "client_auth"],
            ),
            Kind::SmartBackend => (
                &["token_url", "client_id", "private_key_file", "kid", "scope"],
                &["algorithm", "jku"],
            ),
        }
    }
}

/// Checks one `[connections.<id>.auth]` table at `path`; `None` once a problem was reported.
/// Checks `[connections.<id>.auth]`; `allow_http` is the connection's `allow_insecure_http`,
/// which the token endpoint follows too.
pub(super) fn auth(
    check: &mut Checker<'_>,
    path: &KeyPath,
    raw: &RawAuth,
    allow_http: bool,
) -> Option<AuthConfig> {
    let Some(kind) = Kind::ALL.into_iter().find(|k| k.name() == raw.kind) else {
        let message = format!(
            "unknown value \"{}\" (expected \"bearer\", \"basic\", \"client_credentials\" or \
             \"smart_backend\")",
            raw.kind
        );
        check.report(&path.key("type"), message);
        return None;
    };
    let keys_fit = keys_fit(check, path, raw, kind);
    let auth = match kind {
        Kind::Bearer => bearer(check, path, raw),
        Kind::Basic => basic(check, path, raw),
        Kind::ClientCredentials => client_credentials(check, path, raw, allow_http),
        Kind::SmartBackend => smart_backend(check, path, raw, allow_http),
    };
    auth.filter(|_| keys_fit)
}

/// The keys of the table, by name, with their values when written.
fn written(raw: &RawAuth) -> [(&'static str, Option<&str>); 12] {
    [
        ("token_env", raw.token_env.as_deref()),
        ("username", raw.username.as_deref()),
        ("password_env", raw.password_env.as_deref()),
        ("token_url", raw.token_url.as_deref()),
        ("client_id", raw.client_id.as_deref()),
        ("client_secret_env", raw.client_secret_env.as_deref()),
        ("scope", raw.scope.as_deref()),
        ("client_auth", raw.client_auth.as_deref()),
        ("private_key_file", raw.private_key_file.as_deref()),
        ("algorithm", raw.algorithm.as_deref()),
        ("kid", raw.kid.as_deref()),
        ("jku", raw.jku.as_deref()),
    ]
}

/// Reports every required key left out and every key written that this type ignores, since
/// an ignored `client_secret_env` would be a credential silently not sent.
fn keys_fit(check: &mut Checker<'_>, path: &KeyPath, raw: &RawAuth, kind: Kind) -> bool {
    let (required, optional) = kind.keys();
    let mut fit = true;
    for (key, value) in written(raw) {
        let needed = required.contains(&key);
        let message = match (value.is_some(), needed || optional.contains(&key)) {
            (true, false) => format!("does not apply to type = \"{}\"", kind.name()),
            (false, _) if needed => {
                format!("missing required key (for type = \"{}\")", kind.name())
            }
            _ => continue,
        };
        check.report(&path.key(key), message);
        fit = false;
    }
    fit
}

fn bearer(check: &mut Checker<'_>, path: &KeyPath, raw: &RawAuth) -> Option<AuthConfig> {
    let token_path = path.key("token_env");
    let var = raw.token_env.as_deref()?;
    let token = check.env_secret(&token_path, var)?;
    if !token.expose().bytes().all(|b| b.is_ascii_graphic()) {
        let message = format!(
            "environment variable {var} holds a space, a line break or another character that \
             cannot be sent in an HTTP header"
        );
        check.report(&token_path, message);
        return None;
    }
    Some(AuthConfig::Bearer { token })
}

fn basic(check: &mut Checker<'_>, path: &KeyPath, raw: &RawAuth) -> Option<AuthConfig> {
    let username = raw.username.as_deref().filter(|name| {
        let problem = if name.is_empty() {
            "must not be empty"
        } else if name.contains(':') {
            "must not contain \":\" (HTTP Basic separates the user name from the password with it)"
        } else if name.chars().any(char::is_control) {
            "must not contain control characters"
        } else {
            return true;
        };
        check.report(&path.key("username"), problem);
        false
    });
    let password = raw
        .password_env
        .as_deref()
        .and_then(|var| check.env_secret(&path.key("password_env"), var));
    Some(AuthConfig::Basic {
        username: username?.to_owned(),
        password: password?,
    })
}

/// The token endpoint: an http(s) URL, plain http only to loopback unless the connection
/// sets `allow_insecure_http`, like its `base_url`.
fn token_url(
    check: &mut Checker<'_>,
    path: &KeyPath,
    raw: &RawAuth,
    allow_http: bool,
) -> Option<url::Url> {
    let key = path.key("token_url");
    let url = check.url(&key, raw.token_url.as_deref()?)?;
    check.plain_http(&key, &url, allow_http);
    Some(url)
}

fn client_credentials(
    check: &mut Checker<'_>,
    path: &KeyPath,
    raw: &RawAuth,
    allow_http: bool,
) -> Option<AuthConfig> {
    let token_url = token_url(check, path, raw, allow_http);
    let client_id = client_id(check, path, raw);
    let client_secret = raw
        .client_secret_env
        .as_deref()
        .and_then(|var| check.env_secret(&path.key("client_secret_env"), var));
    let scope = match raw.scope.as_deref() {
        Some(text) => scope(check, &path.key("scope"), text).map(Some),
        None => Some(None),
    };
    let client_auth = match raw.client_auth.as_deref() {
        None | Some("basic") => Some(ClientAuth::Basic),
        Some("post") => Some(ClientAuth::Post),
        Some(other) => {
            let message = format!("unknown value \"{other}\" (expected \"basic\" or \"post\")");
            check.report(&path.key("client_auth"), message);
            None
        }
    };
    Some(AuthConfig::ClientCredentials(ClientCredentialsAuth {
        token_url: token_url?,
        client_id: client_id?,
        client_secret: client_secret?,
        scope: scope?,
        client_auth: client_auth?,
    }))
}

fn smart_backend(
    check: &mut Checker<'_>,
    path: &KeyPath,
    raw: &RawAuth,
    allow_http: bool,
) -> Option<AuthConfig> {
    let token_url = token_url(check, path, raw, allow_http);
    let client_id = client_id(check, path, raw);
    let scope = raw
        .scope
        .as_deref()
        .and_then(|text| scope(check, &path.key("scope"), text));
    let algorithm = match raw.algorithm.as_deref() {
        None => Some(None),
        Some(name) => algorithm(check, &path.key("algorithm"), name).map(Some),
    };
    let kid = raw.kid.as_deref().filter(|kid| {
        check.non_empty(&path.key("kid"), kid);
        !kid.trim().is_empty()
    });
    let jku = match raw.jku.as_deref() {
        None => Some(None),
        Some(url) => jku(check, &path.key("jku"), url).map(Some),
    };
    let file = raw.private_key_file.as_deref();
    let key = file.and_then(|file| client_key(check, path, file, algorithm.flatten()));
    let key = key?;
    Some(AuthConfig::SmartBackend(SmartBackendAuth {
        token_url: token_url?,
        client_id: client_id?,
        algorithm: key.algorithm(),
        key: Arc::new(key),
        private_key_file: file?.into(),
        kid: kid?.to_owned(),
        jku: jku?,
        scope: scope?,
    }))
}

fn client_id(check: &mut Checker<'_>, path: &KeyPath, raw: &RawAuth) -> Option<String> {
    let id = raw.client_id.as_deref()?;
    check.non_empty(&path.key("client_id"), id);
    (!id.trim().is_empty()).then(|| id.to_owned())
}

/// Checks a space-separated list of scopes (RFC 6749 §3.3: each is visible ASCII except `"`
/// and `\`), and returns it with single spaces between them.
fn scope(check: &mut Checker<'_>, path: &KeyPath, text: &str) -> Option<String> {
    let scopes: Vec<&str> = text.split_whitespace().collect();
    if scopes.is_empty() {
        check.report(path, "must not be empty");
        return None;
    }
    let allowed = |b: u8| b.is_ascii_graphic() && b != b'"' && b != b'\\';
    let bad: Vec<&str> = scopes
        .iter()
        .copied()
        .filter(|scope| !scope.bytes().all(allowed))
        .collect();
    if let Some(first) = bad.first() {
        let message = format!(
            "scope {first:?} holds a character no scope can (only visible ASCII except \" and \\)"
        );
        check.report(path, message);
        return None;
    }
    Some(scopes.join(" "))
}

fn algorithm(check: &mut Checker<'_>, path: &KeyPath, name: &str) -> Option<JwtAlgorithm> {
    let algorithm = JwtAlgorithm::from_name(name);
    if algorithm.is_none() {
        let message = format!(
            "unknown value \"{name}\" (expected \"RS384\" or \"ES384\", the algorithms SMART \
             Backend Services requires)"
        );
        check.report(path, message);
    }
    algorithm
}

/// The EHR fetches the JWK Set from `jku` to check our signatures; SMART requires TLS there.
fn jku(check: &mut Checker<'_>, path: &KeyPath, text: &str) -> Option<url::Url> {
    let url = check.url(path, text)?;
    if url.scheme() != "https" {
        check.report(
            path,
            "must be an https URL (the EHR fetches the public keys from it)",
        );
        return None;
    }
    Some(url)
}

/// Reads and parses the key file. Messages name the file, never its content; a key that
/// does not fit the configured algorithm is reported at `algorithm`.
fn client_key(
    check: &mut Checker<'_>,
    path: &KeyPath,
    file: &str,
    algorithm: Option<JwtAlgorithm>,
) -> Option<ClientKey> {
    let file_path = path.key("private_key_file");
    if file.trim().is_empty() {
        check.report(&file_path, "must not be empty");
        return None;
    }
    let pem = match read_key_file(Path::new(file)) {
        Ok(pem) => pem,
        Err(message) => {
            check.report(&file_path, message);
            return None;
        }
    };
    match ClientKey::from_pem(&pem, algorithm) {
        Ok(key) => Some(key),
        Err(KeyError::Mismatch {
            algorithm,
            needs,
            holds,
        }) => {
            let message = format!("{algorithm} needs {needs}, but {file} holds {holds}");
            check.report(&path.key("algorithm"), message);
            None
        }
        Err(problem) => {
            check.report(&file_path, format!("{file} {problem}"));
            None
        }
    }
}

fn read_key_file(path: &Path) -> Result<Vec<u8>, String> {
    let cannot_read = |e: std::io::Error| format!("cannot read {}: {e}", path.display());
    let file = std::fs::File::open(path).map_err(cannot_read)?;
    let mut pem = Vec::new();
    file.take(KEY_FILE_AT_MOST + 1)
        .read_to_end(&mut pem)
        .map_err(cannot_read)?;
    if pem.len() as u64 > KEY_FILE_AT_MOST {
        return Err(format!(
            "{} is larger than 64 KiB; a PEM private key is a few KiB",
            path.display()
        ));
    }
    Ok(pem)
}
