//! Transport keys: plain http only to loopback, TLS files read and checked at load (errors
//! name the file), and the request timeouts and pacing of a connection.

use std::path::Path;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

use super::{errors, parse_ok, valid_with};

/// The destination's last key, line 6 of `VALID`; inserted keys follow it.
const DESTINATION_END: &str = "secret_env = \"COURIER_APP_SECRET\"\n";
/// The connection's last key, line 18 of `VALID`; inserted keys follow it.
const CONNECTION_END: &str = "event_type = \"appointment.updated\"\n";

/// `VALID` with `destination` lines after `secret_env` (from line 7) and `connection` lines
/// after `event_type` (from line 19, plus the destination lines).
fn with_keys(destination: &str, connection: &str) -> String {
    valid_with(DESTINATION_END, &format!("{DESTINATION_END}{destination}"))
        .replace(CONNECTION_END, &format!("{CONNECTION_END}{connection}"))
}

/// PEM files in a temporary directory: a CA, a client certificate it signed and that
/// certificate's key, an unrelated key, and files that are not what a key expects.
struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let client_key = KeyPair::generate().unwrap();
        let client = CertificateParams::new(vec!["courier-client".to_owned()])
            .unwrap()
            .signed_by(&client_key, &issuer)
            .unwrap();
        let other_key = KeyPair::generate().unwrap();
        let files = [
            ("ca.pem", ca.pem()),
            ("bundle.pem", format!("{}{}", ca.pem(), client.pem())),
            ("client.pem", client.pem()),
            ("client.key", client_key.serialize_pem()),
            ("other.key", other_key.serialize_pem()),
            ("notes.txt", "not a certificate\n".to_owned()),
            (
                "broken.pem",
                "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n".to_owned(),
            ),
            (
                "hello.pem",
                "-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n".to_owned(),
            ),
        ];
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        Self { dir }
    }

    /// The path of file `name`, as the configuration names it.
    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// `key = "<path of name>"`, a TOML line.
    fn key(&self, key: &str, name: &str) -> String {
        format!("{key} = {:?}\n", self.path(name))
    }

    /// The secret part of the client key, which no message or debug output may show.
    fn key_body(&self) -> String {
        let pem = std::fs::read_to_string(Path::new(&self.path("client.key"))).unwrap();
        pem.lines().nth(1).unwrap().to_owned()
    }
}

const PLAIN_HTTP: &str =
    "plain http is refused for a host that is not loopback: use https (or set allow_insecure_http = true)";

#[test]
fn plain_http_to_a_host_that_is_not_loopback_is_refused() {
    let text = valid_with(
        "https://receiver.example.org",
        "http://receiver.example.org",
    )
    .replace("https://ehr.example.org", "http://ehr.example.org");
    let expected = [
        format!("config/courier.toml:5: destinations.app.url: {PLAIN_HTTP}"),
        format!("config/courier.toml:11: connections.clinic-a.base_url: {PLAIN_HTTP}"),
    ];
    assert_eq!(errors(&text), expected.join("\n"));
}

#[test]
fn plain_http_is_accepted_to_loopback_hosts_or_where_allowed() {
    let loopback = valid_with("https://receiver.example.org", "http://[::1]:8080")
        .replace("https://ehr.example.org", "http://localhost:8081");
    parse_ok(&loopback);
    let local = valid_with("https://receiver.example.org", "http://127.0.0.2");
    parse_ok(&local);
    let allowed = with_keys(
        "allow_insecure_http = true\n",
        "allow_insecure_http = true\n",
    )
    .replace(
        "https://receiver.example.org",
        "http://receiver.example.org",
    )
    .replace("https://ehr.example.org", "http://ehr.example.org");
    let config = parse_ok(&allowed);
    assert_eq!(config.connections["clinic-a"].base_url.scheme(), "http");
}

#[test]
fn tls_files_load_into_the_clients_configuration() {
    let files = Files::new();
    let destination = files.key("ca_file", "ca.pem");
    let connection = [
        files.key("ca_file", "bundle.pem"),
        files.key("client_cert_file", "client.pem"),
        files.key("client_key_file", "client.key"),
    ]
    .concat();
    let config = parse_ok(&with_keys(&destination, &connection));
    let conn = &config.connections["clinic-a"];
    assert_eq!(
        format!("{:?}", conn.tls),
        "ClientTls { private_cas: 2, client_cert: true }"
    );
    let app = &config.destinations["app"];
    assert_eq!(
        format!("{:?}", app.tls),
        "ClientTls { private_cas: 1, client_cert: false }"
    );
    let debug = format!("{config:?}");
    assert!(!debug.contains(&files.key_body()), "{debug}");
}

#[test]
fn tls_files_that_are_missing_or_hold_no_pem_of_their_kind_are_refused_naming_the_file() {
    let files = Files::new();
    let destination = files.key("ca_file", "client.key");
    let connection = [
        files.key("ca_file", "missing.pem"),
        files.key("client_cert_file", "notes.txt"),
        files.key("client_key_file", "ca.pem"),
    ]
    .concat();
    let text = with_keys(&destination, &connection);
    let no_certificate = "holds no certificate (expected PEM \"BEGIN CERTIFICATE\" blocks)";
    let expected = [
        format!(
            "config/courier.toml:7: destinations.app.ca_file: \"{}\" {no_certificate}",
            files.path("client.key")
        ),
        format!(
            "config/courier.toml:20: connections.clinic-a.ca_file: cannot read \"{}\": \
             No such file or directory (os error 2)",
            files.path("missing.pem")
        ),
        format!(
            "config/courier.toml:21: connections.clinic-a.client_cert_file: \"{}\" {no_certificate}",
            files.path("notes.txt")
        ),
        format!(
            "config/courier.toml:22: connections.clinic-a.client_key_file: \"{}\" holds no \
             private key (expected a PEM \"BEGIN PRIVATE KEY\", \"BEGIN RSA PRIVATE KEY\" or \
             \"BEGIN EC PRIVATE KEY\" block)",
            files.path("ca.pem")
        ),
    ];
    assert_eq!(errors(&text), expected.join("\n"));
}

#[test]
fn pem_that_does_not_parse_or_is_no_certificate_is_refused() {
    let files = Files::new();
    let text = with_keys(
        &files.key("ca_file", "hello.pem"),
        &files.key("ca_file", "broken.pem"),
    );
    let rendered = errors(&text);
    let lines: Vec<&str> = rendered.lines().collect();
    assert_eq!(lines.len(), 2, "{rendered}");
    let hello = format!(
        "config/courier.toml:7: destinations.app.ca_file: \"{}\": certificate 1 cannot be \
         trusted as a CA: ",
        files.path("hello.pem")
    );
    assert!(lines[0].starts_with(&hello), "{rendered}");
    assert_eq!(
        lines[1],
        format!(
            "config/courier.toml:20: connections.clinic-a.ca_file: \"{}\" is not valid PEM: \
             a block is not valid base64",
            files.path("broken.pem")
        )
    );
}

#[test]
fn a_client_certificate_and_its_key_come_as_a_pair() {
    let files = Files::new();
    let text = with_keys(
        &files.key("client_key_file", "client.key"),
        &files.key("client_cert_file", "client.pem"),
    );
    let expected = [
        "config/courier.toml:7: destinations.app.client_key_file: requires client_cert_file \
         (mutual TLS needs the key's certificate)",
        "config/courier.toml:20: connections.clinic-a.client_cert_file: requires \
         client_key_file (mutual TLS needs the certificate's key)",
    ];
    assert_eq!(errors(&text), expected.join("\n"));
}

#[test]
fn a_key_that_does_not_match_its_certificate_is_refused() {
    let files = Files::new();
    let connection = [
        files.key("client_cert_file", "client.pem"),
        files.key("client_key_file", "other.key"),
    ]
    .concat();
    let rendered = errors(&with_keys("", &connection));
    assert_eq!(
        rendered,
        format!(
            "config/courier.toml:20: connections.clinic-a.client_key_file: the key in \"{}\" \
             does not match the certificate in \"{}\"",
            files.path("other.key"),
            files.path("client.pem")
        )
    );
    assert!(!rendered.contains(&files.key_body()));
}

#[test]
fn request_timeouts_and_pacing_take_their_defaults() {
    let config = parse_ok(&with_keys("", ""));
    let conn = &config.connections["clinic-a"];
    assert_eq!(conn.connect_timeout, Duration::from_secs(10));
    assert_eq!(conn.body_timeout, Duration::from_secs(60));
    assert_eq!(conn.max_requests_per_sec, None);
    assert_eq!(conn.max_concurrent_requests, None);
    assert_eq!(
        format!("{:?}", conn.tls),
        "ClientTls { private_cas: 0, client_cert: false }"
    );
    assert_eq!(
        config.destinations["app"].connect_timeout,
        Duration::from_secs(10)
    );
}

#[test]
fn request_timeouts_and_pacing_take_their_values_and_connect_is_capped_by_its_phase() {
    let config = parse_ok(&with_keys(
        "timeout_ms = 2000\n",
        "connect_timeout_ms = 500\nbody_timeout_ms = 1500\n\
         max_requests_per_sec = 2.5\nmax_concurrent_requests = 4\n",
    ));
    let conn = &config.connections["clinic-a"];
    assert_eq!(conn.connect_timeout, Duration::from_millis(500));
    assert_eq!(conn.body_timeout, Duration::from_millis(1500));
    assert_eq!(conn.max_requests_per_sec, Some(2.5));
    assert_eq!(conn.max_concurrent_requests, Some(4));
    // The default connect timeout (10 s) never outlasts the phase it is part of.
    assert_eq!(
        config.destinations["app"].connect_timeout,
        Duration::from_secs(2)
    );
    let config = parse_ok(&with_keys("", "request_timeout_ms = 3000\n"));
    assert_eq!(
        config.connections["clinic-a"].connect_timeout,
        Duration::from_secs(3)
    );
}

#[test]
fn request_timeouts_and_pacing_out_of_bounds_are_refused() {
    let cases = [
        ("connect_timeout_ms = 0", "must be greater than 0 (got 0)"),
        (
            "body_timeout_ms = 3600001",
            "must be at most 3600000 ms, 1 hour (got 3600001)",
        ),
        ("max_requests_per_sec = 0", "must be greater than 0 (got 0)"),
        (
            "max_requests_per_sec = nan",
            "must be a finite number (got nan)",
        ),
        (
            "max_requests_per_sec = 0.0001",
            "must be at least 0.001 (one request per 1000 seconds) (got 0.0001)",
        ),
        (
            "max_requests_per_sec = 10000.5",
            "must be at most 10000 (got 10000.5)",
        ),
        (
            "max_concurrent_requests = 0",
            "must be greater than 0 (got 0)",
        ),
        (
            "max_concurrent_requests = 10001",
            "must be at most 10000 (got 10001)",
        ),
    ];
    for (line, message) in cases {
        let key = line.split(' ').next().unwrap();
        assert_eq!(
            errors(&with_keys("", &format!("{line}\n"))),
            format!("config/courier.toml:19: connections.clinic-a.{key}: {message}"),
        );
    }
    assert_eq!(
        errors(&with_keys("connect_timeout_ms = 3600001\n", "")),
        "config/courier.toml:7: destinations.app.connect_timeout_ms: \
         must be at most 3600000 ms, 1 hour (got 3600001)"
    );
}
