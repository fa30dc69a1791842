//! `[connections.<id>.auth]`: the keys each type takes, secrets from the environment, the
//! SMART private key from its file, and messages that never show a secret.

use std::path::Path;

use super::{parse, ConfigErrors, SECRET, VALID};
use crate::client_key::tests::es384_pem;
use crate::client_key::JwtAlgorithm;
use crate::config::{AuthConfig, ClientAuth, Config};

/// Line of the `[connections.clinic-a.auth]` header in [`with_auth`]; its keys follow.
const AUTH_LINE: usize = 29;

/// The committed test-only RSA key (see `src/client_key/testdata/README.md`).
const RSA_KEY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/src/client_key/testdata/rsa-2048-pkcs8.pem"
);
const SEC1_KEY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/src/client_key/testdata/ec-p384-sec1.pem"
);

/// The test environment: the webhook secret and the EHR credentials.
fn env(name: &str) -> Option<String> {
    let value = match name {
        "COURIER_APP_SECRET" => SECRET,
        "EHR_TOKEN" => "abc.DEF-123",
        "EHR_PASSWORD" => "pa:ss word",
        "EHR_CLIENT_SECRET" => "client-s3cret",
        "EHR_SPACED_TOKEN" => "abc def",
        "EHR_BLANK" => " ",
        _ => return None,
    };
    Some(value.to_owned())
}

/// [`VALID`] with an auth table of `keys` (one per line) for the connection.
fn with_auth(keys: &str) -> String {
    format!("{VALID}\n[connections.clinic-a.auth]\n{keys}")
}

fn load(keys: &str) -> Result<Config, ConfigErrors> {
    parse(&with_auth(keys), Path::new("config/courier.toml"), &env)
}

fn auth(keys: &str) -> AuthConfig {
    let config = load(keys).unwrap_or_else(|e| panic!("refused:\n{e}"));
    let connection = &config.connections["clinic-a"];
    connection.auth.clone().expect("an auth table")
}

/// The rendered errors, after checking that none shows a secret of the environment.
fn errors(keys: &str) -> String {
    let rendered = match load(keys) {
        Ok(_) => panic!("accepted:\n{keys}"),
        Err(errors) => errors.to_string(),
    };
    for secret in [
        "abc.DEF-123",
        "pa:ss word",
        "client-s3cret",
        "PRIVATE KEY-----\n",
    ] {
        assert!(!rendered.contains(secret), "{rendered}");
    }
    rendered
}

/// `key: message` at `line` of the test file.
fn at(line: usize, key: &str, message: &str) -> String {
    format!("config/courier.toml:{line}: connections.clinic-a.auth.{key}: {message}")
}

#[test]
fn a_connection_without_an_auth_table_sends_no_credentials() {
    let config = parse(VALID, Path::new("c.toml"), &env).unwrap();
    assert!(config.connections["clinic-a"].auth.is_none());
}

#[test]
fn bearer_and_basic_read_their_secrets_from_the_environment() {
    let AuthConfig::Bearer { token } = auth("type = \"bearer\"\ntoken_env = \"EHR_TOKEN\"") else {
        panic!("not bearer");
    };
    assert_eq!(token.expose(), "abc.DEF-123");
    let basic = auth("type = \"basic\"\nusername = \"courier\"\npassword_env = \"EHR_PASSWORD\"");
    let AuthConfig::Basic { username, password } = basic else {
        panic!("not basic");
    };
    assert_eq!(
        (username.as_str(), password.expose()),
        ("courier", "pa:ss word")
    );
}

#[test]
fn client_credentials_send_the_secret_as_basic_unless_told_otherwise() {
    let keys = "type = \"client_credentials\"\ntoken_url = \"https://ehr.example.org/token\"\n\
                client_id = \"courier\"\nclient_secret_env = \"EHR_CLIENT_SECRET\"\n";
    let AuthConfig::ClientCredentials(plain) = auth(keys) else {
        panic!("not client_credentials");
    };
    assert_eq!(plain.token_url.as_str(), "https://ehr.example.org/token");
    assert_eq!(plain.client_id, "courier");
    assert_eq!(plain.client_secret.expose(), "client-s3cret");
    assert_eq!(plain.client_auth, ClientAuth::Basic);
    assert_eq!(plain.scope, None);
    let posted = format!("{keys}client_auth = \"post\"\nscope = \"  system/*.read\\t launch \"");
    let AuthConfig::ClientCredentials(posted) = auth(&posted) else {
        panic!("not client_credentials");
    };
    assert_eq!(posted.client_auth, ClientAuth::Post);
    assert_eq!(posted.scope.as_deref(), Some("system/*.read launch"));
}

/// A SMART table for the key in `file`, with `extra` keys.
fn smart(file: &str, extra: &str) -> String {
    format!(
        "type = \"smart_backend\"\ntoken_url = \"https://ehr.example.org/oauth2/token\"\n\
         client_id = \"courier\"\nprivate_key_file = '{file}'\nkid = \"k1\"\n\
         scope = \"system/Appointment.rs\"\n{extra}"
    )
}

#[test]
fn a_smart_backend_reads_its_key_and_takes_the_algorithm_from_it() {
    let AuthConfig::SmartBackend(rsa) = auth(&smart(RSA_KEY, "")) else {
        panic!("not smart_backend");
    };
    assert_eq!(rsa.algorithm, JwtAlgorithm::Rs384);
    assert_eq!(rsa.key.algorithm(), JwtAlgorithm::Rs384);
    assert_eq!(rsa.private_key_file, Path::new(RSA_KEY));
    assert_eq!((rsa.kid.as_str(), rsa.jku.as_ref()), ("k1", None));
    assert_eq!(rsa.scope, "system/Appointment.rs");
    let dir = tempfile::tempdir().unwrap();
    let ec_file = dir.path().join("ec.pem");
    std::fs::write(&ec_file, es384_pem()).unwrap();
    let jku = "jku = \"https://courier.example.org/jwks.json\"\nalgorithm = \"ES384\"";
    let AuthConfig::SmartBackend(ec) = auth(&smart(ec_file.to_str().unwrap(), jku)) else {
        panic!("not smart_backend");
    };
    assert_eq!(ec.algorithm, JwtAlgorithm::Es384);
    assert_eq!(
        ec.jku.map(String::from).as_deref(),
        Some("https://courier.example.org/jwks.json")
    );
}

#[test]
fn keys_of_another_type_are_refused_by_name() {
    let keys = "type = \"bearer\"\ntoken_env = \"EHR_TOKEN\"\nclient_id = \"courier\"";
    assert_eq!(
        errors(keys),
        at(
            AUTH_LINE + 3,
            "client_id",
            "does not apply to type = \"bearer\""
        )
    );
}

#[test]
fn every_key_the_type_requires_is_named_when_missing() {
    let keys = "type = \"smart_backend\"\ntoken_url = \"https://ehr.example.org/token\"";
    let missing = "missing required key (for type = \"smart_backend\")";
    let expected = ["client_id", "scope", "private_key_file", "kid"]
        .map(|key| at(AUTH_LINE, key, missing))
        .join("\n");
    assert_eq!(errors(keys), expected);
}

#[test]
fn an_unknown_type_lists_the_known_ones() {
    assert_eq!(
        errors("type = \"oauth\""),
        at(
            AUTH_LINE + 1,
            "type",
            "unknown value \"oauth\" (expected \"bearer\", \"basic\", \"client_credentials\" \
             or \"smart_backend\")"
        )
    );
}

#[test]
fn secret_variables_that_are_unset_empty_or_unusable_are_named_not_shown() {
    let cases = [
        ("EHR_NOPE", "environment variable EHR_NOPE is not set"),
        ("EHR_BLANK", "environment variable EHR_BLANK is empty"),
        (
            "EHR_SPACED_TOKEN",
            "environment variable EHR_SPACED_TOKEN holds a space, a line break or another \
             character that cannot be sent in an HTTP header",
        ),
        (
            "eyJhbGciOiJIUzI1NiJ9.e30.x",
            "must be the name of an environment variable (A-Z a-z 0-9 _, not starting with a digit)",
        ),
    ];
    for (var, message) in cases {
        let keys = format!("type = \"bearer\"\ntoken_env = \"{var}\"");
        assert_eq!(errors(&keys), at(AUTH_LINE + 2, "token_env", message));
    }
}

#[test]
fn a_password_pasted_as_a_variable_name_is_not_echoed() {
    let keys = "type = \"basic\"\nusername = \"courier\"\npassword_env = \"hunter2\"";
    let rendered = errors(keys);
    assert_eq!(
        rendered,
        at(
            AUTH_LINE + 3,
            "password_env",
            "no environment variable of this name is set (it must name the variable that \
             holds the secret, not be the secret)"
        )
    );
    assert!(!rendered.contains("hunter2"));
}

#[test]
fn a_secret_written_in_the_auth_table_is_refused_with_the_key_to_use() {
    let cases = [
        ("password = \"hunter2\"", "password", "secrets are read from the environment: use password_env (with type = \"basic\")"),
        ("client_secret = \"hunter2\"", "client_secret", "secrets are read from the environment: use client_secret_env (with type = \"client_credentials\")"),
        ("access_token = \"hunter2\"", "access_token", "secrets are read from the environment, never from this file: use token_env, password_env or client_secret_env"),
        ("private_key = \"hunter2\"", "private_key", "private keys are read from a file: use private_key_file"),
    ];
    for (line, key, message) in cases {
        let rendered = errors(&format!("type = \"basic\"\n{line}"));
        // Beside the keys this table lacks for its type (username…), reported in the same run.
        let advice = at(AUTH_LINE + 2, key, message);
        assert!(rendered.lines().any(|l| l == advice), "{rendered}");
        assert!(!rendered.contains("hunter2"));
    }
}

#[test]
fn values_that_cannot_work_are_refused_with_the_reason() {
    let cases = [
        ("type = \"basic\"\nusername = \"a:b\"\npassword_env = \"EHR_PASSWORD\"", "username", "must not contain \":\" (HTTP Basic separates the user name from the password with it)"),
        ("type = \"client_credentials\"\ntoken_url = \"https://e.example/t\"\nclient_id = \"c\"\nclient_secret_env = \"EHR_CLIENT_SECRET\"\nclient_auth = \"jwt\"", "client_auth", "unknown value \"jwt\" (expected \"basic\" or \"post\")"),
        ("type = \"client_credentials\"\ntoken_url = \"https://user:pw@e.example/t\"\nclient_id = \"c\"\nclient_secret_env = \"EHR_CLIENT_SECRET\"", "token_url", "must not contain a password (secrets are read from the environment)"),
        ("type = \"client_credentials\"\ntoken_url = \"https://e.example/t\"\nclient_id = \"c\"\nclient_secret_env = \"EHR_CLIENT_SECRET\"\nscope = 'a \"b\"'", "scope", "scope \"\\\"b\\\"\" holds a character no scope can (only visible ASCII except \" and \\)"),
    ];
    for (keys, key, message) in cases {
        let rendered = errors(keys);
        let expected = format!("connections.clinic-a.auth.{key}: {message}");
        assert!(
            rendered.ends_with(&expected),
            "{rendered}\nwanted: {expected}"
        );
        assert_eq!(rendered.lines().count(), 1, "{rendered}");
    }
}

#[test]
fn smart_settings_that_cannot_work_are_refused_with_the_reason() {
    let line = |n: usize| AUTH_LINE + n;
    let cases = [
        (smart(RSA_KEY, "algorithm = \"RS256\""), at(line(7), "algorithm", "unknown value \"RS256\" (expected \"RS384\" or \"ES384\", the algorithms SMART Backend Services requires)")),
        (smart(RSA_KEY, "algorithm = \"ES384\""), at(line(7), "algorithm", &format!("ES384 needs an EC P-384 key, but {RSA_KEY} holds an RSA key"))),
        (smart(RSA_KEY, "jku = \"http://courier.example.org/jwks.json\""), at(line(7), "jku", "must be an https URL (the EHR fetches the public keys from it)")),
        (smart(RSA_KEY, "").replace("kid = \"k1\"", "kid = \" \""), at(line(5), "kid", "must not be empty")),
    ];
    for (keys, expected) in cases {
        assert_eq!(errors(&keys), expected);
    }
}

#[test]
fn key_file_problems_name_the_file_never_the_key() {
    let missing = "/nonexistent/courier/key.pem";
    assert_eq!(
        errors(&smart(missing, "")),
        at(
            AUTH_LINE + 4,
            "private_key_file",
            &format!("cannot read {missing}: No such file or directory (os error 2)")
        )
    );
    let sec1 = errors(&smart(SEC1_KEY, ""));
    let expected = format!(
        "{SEC1_KEY} holds a SEC1 \"EC PRIVATE KEY\"; ES384 needs PKCS#8 (\"PRIVATE KEY\"): \
         convert it with `openssl pkcs8 -topk8 -nocrypt -in <sec1.pem> -out <pkcs8.pem>`"
    );
    assert_eq!(sec1, at(AUTH_LINE + 4, "private_key_file", &expected));
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.pem");
    std::fs::write(&big, vec![b'A'; 70_000]).unwrap();
    let big = big.to_str().unwrap();
    assert_eq!(
        errors(&smart(big, "")),
        at(
            AUTH_LINE + 4,
            "private_key_file",
            &format!("{big} is larger than 64 KiB; a PEM private key is a few KiB")
        )
    );
}

#[test]
fn debug_output_of_a_configuration_shows_no_credential() {
    let kinds = [
        "type = \"bearer\"\ntoken_env = \"EHR_TOKEN\"".to_owned(),
        "type = \"basic\"\nusername = \"courier\"\npassword_env = \"EHR_PASSWORD\"".to_owned(),
        "type = \"client_credentials\"\ntoken_url = \"https://e.example/t\"\nclient_id = \"c\"\n\
         client_secret_env = \"EHR_CLIENT_SECRET\""
            .to_owned(),
        smart(RSA_KEY, ""),
    ];
    let key_text = std::fs::read_to_string(RSA_KEY).unwrap();
    let key_line = key_text.lines().nth(1).unwrap();
    for keys in kinds {
        let debug = format!("{:?}", load(&keys).unwrap());
        for secret in ["abc.DEF-123", "pa:ss word", "client-s3cret", key_line] {
            assert!(!debug.contains(secret), "{debug}");
        }
    }
}

#[test]
fn epic_smart_example_parses_with_a_generated_key() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("epic-backend.pem");
    std::fs::write(&key_file, es384_pem()).unwrap();
    let text = include_str!("../../../config/epic-smart.toml").replace(
        "/etc/courier/keys/epic-backend.pem",
        key_file.to_str().unwrap(),
    );
    let config = parse(&text, Path::new("config/epic-smart.toml"), &env)
        .unwrap_or_else(|e| panic!("refused:\n{e}"));
    let epic = &config.connections["epic"];
    assert_eq!(
        epic.base_url.as_str(),
        "https://fhir.epic.example/api/FHIR/R4"
    );
    let Some(AuthConfig::SmartBackend(auth)) = &epic.auth else {
        panic!("not smart_backend: {:?}", epic.auth);
    };
    assert_eq!(
        auth.token_url.as_str(),
        "https://fhir.epic.example/oauth2/token"
    );
    assert_eq!(auth.kid, "courier-2026-01");
    assert_eq!(auth.scope, "system/Appointment.rs system/Patient.rs");
    assert_eq!(auth.algorithm, JwtAlgorithm::Es384);
    assert_eq!(auth.jku, None);
}

#[test]
fn a_plain_http_token_endpoint_is_refused_off_loopback() {
    let keys = |url: &str| {
        format!(
            "type = \"client_credentials\"\ntoken_url = \"{url}\"\nclient_id = \"courier\"\n\
             client_secret_env = \"EHR_CLIENT_SECRET\"\n"
        )
    };
    assert_eq!(
        errors(&keys("http://ehr.example.org/token")),
        at(
            AUTH_LINE + 2,
            "token_url",
            "plain http is refused for a host that is not loopback: use https (or set \
             allow_insecure_http = true)"
        )
    );
    assert!(matches!(
        auth(&keys("http://127.0.0.1:8080/token")),
        AuthConfig::ClientCredentials(_)
    ));
}
