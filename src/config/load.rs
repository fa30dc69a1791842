//! Reading a configuration file: structure first, then every semantic problem, all reported
//! at once (see [`repair`] for how structural problems past serde's first are found), each
//! located at its line.

mod repair;

use std::path::Path;

use super::error::{ConfigError, ConfigErrors};
use super::locate::{KeyPath, Locator};
use super::raw::RawConfig;
use super::validate::{validate, Problem};
use super::Config;

/// Said instead of "unknown key" when a key looks like a secret, because the fix is not a
/// different spelling but a different place.
const SECRET_IN_DESTINATION: &str = "secrets are read from the environment: use secret_env";
/// The same advice outside a destination and an auth table.
const SECRET_ELSEWHERE: &str = "secrets are read from the environment, never from this file \
                                (a destination names its variable in secret_env, an EHR \
                                connection in its [auth] table)";
/// The advice in an auth table for a secret-like key with no `_env` twin.
const SECRET_IN_AUTH: &str = "secrets are read from the environment, never from this file: \
                              use token_env, password_env or client_secret_env";
/// The advice in an auth table for a private key written in the file.
const KEY_IN_AUTH: &str = "private keys are read from a file: use private_key_file";
/// The `*_env` keys of an auth table, which a secret-like key is pointed to, and the type
/// that takes each.
const AUTH_ENV_KEYS: [(&str, &str); 3] = [
    ("token_env", "bearer"),
    ("password_env", "basic"),
    ("client_secret_env", "client_credentials"),
];

/// The message of a required key left out.
const MISSING_KEY: &str = "missing required key";

/// Reads and validates the configuration file at `path`; secrets come from `env`.
///
/// An unreadable file is reported as an error naming the file, like any other problem.
pub fn load(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: path.to_owned(),
            line: None,
            key: String::new(),
            message: format!("cannot read the file: {e}"),
        }])
    })?;
    parse(&text, path, env)
}

/// Validates configuration `text`; `origin` is only used to name the file in errors.
///
/// `env` looks up environment variables (the signing secrets). It is injected so that
/// `courier demo` and tests can supply secrets without touching the process environment.
pub fn parse(
    text: &str,
    origin: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigErrors> {
    // The locator re-parses the text keeping spans; it is built only when there is an error
    // to place (for 10,000 connections it is ~100 MB that a valid file never needs).
    let raw = deserialize(text).map_err(|error| {
        let locator = Locator::new(text);
        let problems = match error {
            StructuralError::Syntax(_) => vec![error.locate(&locator)],
            StructuralError::Shape(_) => every_problem(text, &locator, env),
        };
        render(origin, &locator, problems)
    })?;
    validate(raw, env).map_err(|problems| render(origin, &Locator::new(text), problems))
}

/// Every structural problem of `text`, and the semantic ones of the keys they leave alone.
fn every_problem(
    text: &str,
    locator: &Locator<'_>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Vec<Problem> {
    let mut repaired = repair::repair(text, locator);
    let semantic = match repaired.raw.take().map(|raw| validate(raw, env)) {
        Some(Err(problems)) => problems,
        _ => Vec::new(),
    };
    let follows: Vec<bool> = semantic.iter().map(|p| repaired.follows(p)).collect();
    let mut problems = repaired.problems;
    problems.extend(
        semantic
            .into_iter()
            .zip(follows)
            .filter(|(_, f)| !f)
            .map(|(p, _)| p),
    );
    problems
}

/// Looks a variable up in the real process environment, for the `courier` binary.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The first structural problem of a file, before it is placed at a line.
enum StructuralError {
    /// Not TOML at all.
    Syntax(toml::de::Error),
    /// TOML, but not the shape of a configuration.
    Shape(serde_path_to_error::Error<toml::de::Error>),
}

impl StructuralError {
    fn locate(&self, locator: &Locator<'_>) -> Problem {
        match self {
            Self::Syntax(e) => Problem {
                path: KeyPath::root(),
                line: e.span().map(|span| locator.line_at(span.start)),
                message: format!("invalid TOML: {}", e.message()),
            },
            Self::Shape(e) => structural(e, locator),
        }
    }
}

/// Deserializes the file's structure; only the first structural problem can be known.
fn deserialize(text: &str) -> Result<RawConfig, StructuralError> {
    let deserializer = toml::Deserializer::parse(text).map_err(StructuralError::Syntax)?;
    serde_path_to_error::deserialize(deserializer).map_err(StructuralError::Shape)
}

/// Turns a serde error into a problem at the right key, in words that fit a config file.
fn structural(
    error: &serde_path_to_error::Error<toml::de::Error>,
    locator: &Locator<'_>,
) -> Problem {
    let path = KeyPath::from_serde(error.path());
    let message = error.inner().message();
    let span_line = error.inner().span().map(|span| locator.line_at(span.start));
    if let Some(field) = quoted_field(message, "missing field `") {
        // Point at the table that lacks the key; there is no line for the key itself.
        return Problem {
            line: locator.line_of_nearest(&path),
            path: path.key(field),
            message: MISSING_KEY.into(),
        };
    }
    if let Some(field) = quoted_field(message, "unknown field `") {
        let path = match path.last_key() {
            Some(last) if last == field => path,
            _ => path.key(field),
        };
        return Problem {
            line: span_line.or_else(|| locator.line_of_nearest(&path)),
            message: unknown_key_message(&path, field, message),
            path,
        };
    }
    Problem {
        line: span_line.or_else(|| locator.line_of_nearest(&path)),
        message: invalid_type_message(message).unwrap_or_else(|| message.to_owned()),
        path,
    }
}

/// The name between `prefix` and the next backquote, as serde quotes field names.
fn quoted_field<'m>(message: &'m str, prefix: &str) -> Option<&'m str> {
    let rest = message.strip_prefix(prefix)?;
    rest.split('`').next()
}

fn unknown_key_message(path: &KeyPath, field: &str, message: &str) -> String {
    let lower = field.to_ascii_lowercase();
    let secret_like = ["secret", "token", "password", "passwd", "api_key", "apikey"]
        .iter()
        .any(|word| lower.contains(word));
    let in_auth =
        path.first_key() == Some("connections") && path.parent().last_key() == Some("auth");
    if in_auth && lower.contains("private_key") {
        KEY_IN_AUTH.to_owned()
    } else if in_auth && secret_like {
        let twin = format!("{lower}_env");
        match AUTH_ENV_KEYS.iter().find(|(key, _)| *key == twin) {
            Some((key, kind)) => {
                format!("secrets are read from the environment: use {key} (with type = \"{kind}\")")
            }
            None => SECRET_IN_AUTH.to_owned(),
        }
    } else if secret_like && path.first_key() == Some("destinations") {
        SECRET_IN_DESTINATION.to_owned()
    } else if secret_like {
        SECRET_ELSEWHERE.to_owned()
    } else {
        match message.split_once("`, ") {
            Some((_, expected)) => format!("unknown key ({expected})"),
            None => "unknown key".to_owned(),
        }
    }
}

/// Rewrites serde's "invalid type: string \"…\", expected f64" as "expected a number, found a
/// string": TOML words instead of Rust types, and the value is not echoed (it may be secret).
fn invalid_type_message(message: &str) -> Option<String> {
    let rest = message.strip_prefix("invalid type: ")?;
    let (found, expected) = rest.rsplit_once(", expected ")?;
    let found = found
        .split_once([' ', '`', '"'])
        .map_or(found, |(kind, _)| kind);
    let found = match found {
        "map" => "a table",
        "sequence" => "an array",
        "integer" => "an integer",
        "floating" => "a float",
        "boolean" => "a boolean",
        "string" => "a string",
        _ => "another type",
    };
    let expected = match expected {
        "f64" => "a number",
        "i64" => "an integer",
        "a sequence" => "an array",
        "a map" => "a table",
        "a boolean" | "a string" | "a string or an integer" => expected,
        _ if expected.starts_with("struct ") => "a table",
        _ => expected,
    };
    Some(format!("expected {expected}, found {found}"))
}

/// Locates each problem and orders them as they appear in the file.
fn render(origin: &Path, locator: &Locator<'_>, problems: Vec<Problem>) -> ConfigErrors {
    let mut errors: Vec<ConfigError> = problems
        .into_iter()
        .map(|problem| ConfigError {
            file: origin.to_owned(),
            line: problem
                .line
                .or_else(|| locator.line_of_nearest(&problem.path)),
            key: problem.path.to_string(),
            message: problem.message,
        })
        .collect();
    // Errors without a line are about keys missing from the file; they go last.
    errors.sort_by_key(|error| (error.line.is_none(), error.line));
    ConfigErrors(errors)
}
