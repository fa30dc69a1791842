//! Semantic errors: reported all at once, each at the line of its key, never with a secret.

use std::path::Path;

use super::{errors, parse, valid_with, SECRET, VALID};

#[test]
fn relative_url_is_reported_with_the_reason() {
    let text = valid_with(
        "base_url = \"https://ehr.example.org/api\"",
        "base_url = \"ehr.example.org/api\"",
    );
    assert_eq!(
        errors(&text),
        "config/courier.toml:11: connections.clinic-a.base_url: \
         not a valid URL (relative URL without a base)"
    );
}

#[test]
fn a_demo_placeholder_in_a_url_says_the_file_is_the_demos_template() {
    let text = valid_with(
        "base_url = \"https://ehr.example.org/api\"",
        "base_url = \"{demo_ehr}/api\"",
    )
    .replace("https://receiver.example.org/hooks/ehr", "{demo_receiver}");
    let template = "is a placeholder that `courier demo` fills in: this file is the demo's \
                    template; to run against your own EHR, start from config/example.toml";
    assert_eq!(
        errors(&text),
        format!(
            "config/courier.toml:5: destinations.app.url: {{demo_receiver}} {template}\n\
             config/courier.toml:11: connections.clinic-a.base_url: {{demo_ehr}} {template}"
        )
    );
}

#[test]
fn the_demos_unset_secret_says_the_demo_supplies_it() {
    let text = valid_with("\"COURIER_APP_SECRET\"", "\"COURIER_DEMO_SECRET\"");
    assert_eq!(
        errors(&text),
        "config/courier.toml:6: destinations.app.secret_env: environment variable \
         COURIER_DEMO_SECRET is not set: `courier demo` supplies it to its own templates; to \
         run this file yourself, set it to the receiver's signing secret"
    );
}

#[test]
fn url_with_another_scheme_is_refused() {
    let text = valid_with(
        "url = \"https://receiver.example.org/hooks/ehr\"",
        "url = \"ftp://receiver.example.org/hooks\"",
    );
    assert_eq!(
        errors(&text),
        "config/courier.toml:5: destinations.app.url: \
         scheme \"ftp\" is not supported (use http or https)"
    );
}

#[test]
fn unknown_destination_is_reported_with_the_defined_ones() {
    let text = valid_with("destination = \"app\"", "destination = \"apps\"");
    assert_eq!(
        errors(&text),
        "config/courier.toml:9: connections.clinic-a.destination: \
         unknown destination \"apps\" (defined: app)"
    );
}

#[test]
fn unset_secret_variable_is_reported_by_name() {
    let text = valid_with("\"COURIER_APP_SECRET\"", "\"COURIER_OTHER_SECRET\"");
    assert_eq!(
        errors(&text),
        "config/courier.toml:6: destinations.app.secret_env: \
         environment variable COURIER_OTHER_SECRET is not set"
    );
}

#[test]
fn invalid_secret_is_reported_without_its_value() {
    let bad = "not-a-webhook-secret-1234";
    let env = |_: &str| Some(bad.to_owned());
    let rendered = parse(VALID, Path::new("config/courier.toml"), &env)
        .unwrap_err()
        .to_string();
    assert_eq!(
        rendered,
        "config/courier.toml:6: destinations.app.secret_env: environment variable \
         COURIER_APP_SECRET: a signing secret must look like \"whsec_<base64>\""
    );
}

#[test]
fn secret_pasted_into_secret_env_is_refused_without_echoing_it() {
    let text = valid_with("\"COURIER_APP_SECRET\"", &format!("\"{SECRET}\""));
    let rendered = errors(&text);
    assert_eq!(
        rendered,
        "config/courier.toml:6: destinations.app.secret_env: \
         must name the environment variable that holds the secret, not be the secret"
    );
    assert!(!rendered.contains(&SECRET[6..]));
}

#[test]
fn secret_value_never_appears_in_messages_or_debug_output() {
    let config = super::parse_ok(VALID);
    let debug = format!("{config:?}");
    assert!(!debug.contains(&SECRET[6..]), "{debug}");
    let short = "whsec_c2hvcnQ=";
    let env = |_: &str| Some(short.to_owned());
    let rendered = parse(VALID, Path::new("c.toml"), &env)
        .unwrap_err()
        .to_string();
    assert_eq!(
        rendered,
        "c.toml:6: destinations.app.secret_env: environment variable COURIER_APP_SECRET: \
         the key is 5 bytes; at least 24 are required (32 recommended)"
    );
    assert!(!rendered.contains("c2hvcnQ"));
}

#[test]
fn bad_template_is_reported_with_the_parse_error() {
    let text = valid_with("\"/appointments/{/id}\"", "\"/appointments/{/id\"");
    assert_eq!(
        errors(&text),
        "config/courier.toml:22: connections.clinic-a.enrich[0].path: \
         not a valid template: unclosed '{' at byte 14"
    );
}

#[test]
fn placeholder_naming_a_later_step_is_reported() {
    let text = valid_with("\"/appointments/{/id}\"", "\"/appointments/{patient/id}\"");
    assert_eq!(
        errors(&text),
        "config/courier.toml:22: connections.clinic-a.enrich[0].path: placeholder \
         {patient/id} names enrich step \"patient\", which runs later (steps run in file order)"
    );
}

#[test]
fn unsupported_source_lists_the_supported_ones() {
    let text = valid_with("source = \"changes\"", "source = \"hl7v2\"");
    assert_eq!(
        errors(&text),
        "config/courier.toml:10: connections.clinic-a.source: \
         unsupported source \"hl7v2\" (supported: changes, fhir, snapshot, consume-once)"
    );
}

#[test]
fn page_size_without_its_parameter_is_refused() {
    let text = valid_with("page_size_param = \"limit\"\n", "");
    assert_eq!(
        errors(&text),
        "config/courier.toml:13: connections.clinic-a.page_size: \
         page_size requires page_size_param (the query parameter that carries it)"
    );
}

#[test]
fn file_without_connections_is_refused() {
    let end = VALID.find("[connections.clinic-a]").unwrap();
    assert_eq!(
        errors(&VALID[..end]),
        "config/courier.toml: connections: at least one connection is required"
    );
}

#[test]
fn several_semantic_errors_are_all_reported_in_file_order() {
    let text = VALID
        .replace("[destinations.app]", "[destinations.\"my app\"]")
        .replace("destination = \"app\"", "destination = \"my app\"")
        .replace(
            "secret_env = \"COURIER_APP_SECRET\"",
            "secret_env = \"X\"\ntimeout_ms = 0\nretry_schedule_secs = []",
        )
        .replace("page_size = 500", "page_size = -1")
        .replace("key_pointer = \"/id\"", "key_pointer = \"id\"")
        .replace("name = \"patient\"", "name = \"appointment\"")
        .replace(
            "path = \"/patients/{appointment/patientId}\"",
            "path = \"/patients/{visit/patientId}\"",
        );
    let expected = [
        "config/courier.toml:4: destinations.\"my app\": invalid id: use 1 to 64 of A-Z a-z 0-9 _ -",
        "config/courier.toml:6: destinations.\"my app\".secret_env: environment variable X is not set",
        "config/courier.toml:7: destinations.\"my app\".timeout_ms: must be greater than 0 (got 0)",
        "config/courier.toml:8: destinations.\"my app\".retry_schedule_secs: must list at least one retry delay",
        "config/courier.toml:16: connections.clinic-a.page_size: must be greater than 0 (got -1)",
        "config/courier.toml:17: connections.clinic-a.key_pointer: not a JSON pointer: must be \"\" or start with \"/\" (such as \"/id\")",
        "config/courier.toml:27: connections.clinic-a.enrich[1].name: duplicate enrich name \"appointment\" (first used by enrich[0])",
        "config/courier.toml:28: connections.clinic-a.enrich[1].path: placeholder {visit/patientId} names no earlier enrich step \"visit\" (earlier: appointment)",
    ];
    assert_eq!(errors(&text), expected.join("\n"));
}

#[test]
fn destination_headers_come_from_the_environment_and_cannot_replace_courier_s_own() {
    let table = "[destinations.app.headers_env]\nAuthorization = \"COURIER_APP_SECRET\"\n";
    let text = VALID.replace(
        "[connections.clinic-a]",
        &format!("{table}\n[connections.clinic-a]"),
    );
    let config = super::parse_ok(&text);
    let headers = &config.destinations["app"].headers;
    assert_eq!(headers.len(), 1);
    assert_eq!(headers[0].0.as_str(), "authorization");
    assert!(headers[0].1.is_sensitive());
    let text = VALID.replace(
        "[connections.clinic-a]",
        "[destinations.app.headers_env]\nwebhook-signature = \"COURIER_APP_SECRET\"\nX-Gateway = \"UNSET_VAR\"\n\n[connections.clinic-a]",
    );
    assert_eq!(
        errors(&text),
        "config/courier.toml:9: destinations.app.headers_env.webhook-signature: Courier sets this header itself\n\
         config/courier.toml:10: destinations.app.headers_env.X-Gateway: environment variable UNSET_VAR is not set"
    );
}
