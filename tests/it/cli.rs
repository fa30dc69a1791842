//! The `courier` binary as a user meets it: `check` on good and broken files, `run` refusing a
//! broken file before touching the disk, and `courier demo` delivering verified notifications.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use courier::delivery::signing::SigningKey;

use courier_sim::wait::until_blocking;

/// The longest a `check` or a refused `run` may take; both only read one small file.
const QUICK: Duration = Duration::from_secs(20);
/// The longest `courier demo --exit-after 5` may take: it needs a few seconds on a quiet
/// machine, so this only catches a hang.
const DEMO_LIMIT: Duration = Duration::from_secs(90);

/// A valid configuration whose line numbers the tests below refer to.
const VALID: &str = r#"[store]
path = "var/courier"

[destinations.app]
url = "https://receiver.example.org/hooks"
secret_env = "COURIER_APP_SECRET"

[connections.clinic-a]
destination = "app"
source = "changes"
base_url = "https://ehr.example.org/api"
interval_secs = 60
changes_path = "/appointments/changed"
key_pointer = "/id"
cursor_pointer = "/seq"
event_type = "appointment.updated"
"#;

/// Three semantic mistakes at once: a URL without a scheme (line 9), a secret variable that is
/// not set (line 10), and a connection naming a destination that does not exist (line 13).
const THREE_MISTAKES: &str = r#"[store]
path = "var/courier"

[destinations.app]
url = "https://receiver.example.org/hooks"
secret_env = "COURIER_APP_SECRET"

[destinations.audit]
url = "receiver.example.org/audit"
secret_env = "COURIER_AUDIT_SECRET"

[connections.clinic-a]
destination = "apps"
source = "changes"
base_url = "https://ehr.example.org/api"
changes_path = "/appointments/changed"
key_pointer = "/id"
cursor_pointer = "/seq"
event_type = "appointment.updated"
"#;

/// How one run of the binary ended.
struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Both streams, to check that nothing secret was printed on either.
    fn output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// Runs `courier args…` in `dir` with exactly `env` as its environment (nothing inherited, so a
/// variable set on the developer's machine cannot change the outcome). The streams go to files,
/// so a chatty child can never block on a full pipe; a child still running after `limit` is
/// killed and the test fails with what it printed.
fn courier(dir: &Path, args: &[&str], env: &[(&str, &str)], limit: Duration) -> Run {
    let (out_path, err_path) = (dir.join("courier.stdout"), dir.join("courier.stderr"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_courier"))
        .args(args)
        .current_dir(dir)
        .env_clear()
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).unwrap())
        .stderr(File::create(&err_path).unwrap())
        .spawn()
        .expect("the courier binary starts");
    let exited = until_blocking(limit, Duration::from_millis(20), || {
        child.try_wait().expect("waiting for courier")
    });
    let Some(status) = exited else {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "courier {args:?} still running after {limit:?}; stdout:\n{}\nstderr:\n{}",
            read(&out_path),
            read(&err_path)
        );
    };
    Run {
        status,
        stdout: read(&out_path),
        stderr: read(&err_path),
    }
}

/// `courier check --config <config>` with `secret` as the example destination's secret.
fn check(dir: &Path, config: &str, secret: &str) -> Run {
    courier(
        dir,
        &["check", "--config", config],
        &[("COURIER_APP_SECRET", secret)],
        QUICK,
    )
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Writes `text` as `courier.toml` in `dir` and returns its path.
fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("courier.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

#[test]
fn check_accepts_the_example_configuration_when_its_secret_is_set() {
    let dir = tempfile::tempdir().unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/example.toml");
    let example = example.to_str().unwrap();
    let secret = SigningKey::generate_secret();
    let run = check(dir.path(), example, &secret);
    assert_eq!(run.status.code(), Some(0), "stderr:\n{}", run.stderr);
    assert_eq!(
        lines(&run.stdout),
        [format!("{example}: OK (1 connection, 1 destination)")]
    );
    assert!(!run.output().contains(&secret), "the secret was printed");
}

#[test]
fn check_refuses_a_misspelt_key_at_its_line_with_the_keys_expected_there() {
    let dir = tempfile::tempdir().unwrap();
    let text = VALID.replace("interval_secs", "intervall_secs");
    let config = write_config(dir.path(), &text);
    let config = config.to_str().unwrap();
    let secret = SigningKey::generate_secret();
    let run = check(dir.path(), config, &secret);
    assert_eq!(run.status.code(), Some(2), "stdout:\n{}", run.stdout);
    assert_eq!(
        lines(&run.stderr),
        [format!(
            "{config}:12: connections.clinic-a.intervall_secs: unknown key (expected one of \
             `destination`, `source`, `base_url`, `allow_insecure_http`, `ca_file`, \
             `client_cert_file`, `client_key_file`, `interval_secs`, `connect_timeout_ms`, \
             `request_timeout_ms`, `body_timeout_ms`, `backoff_min_ms`, `backoff_max_secs`, \
             `max_response_bytes`, `changes_path`, `since_param`, `initial_cursor`, \
             `page_size_param`, `page_size`, `items_pointer`, `key_pointer`, `version_pointer`, \
             `cursor_pointer`, `cursor_from`, `lag_secs`, `max_clock_skew_secs`, `event_type`, \
             `max_concurrent_enrichments`, `max_requests_per_sec`, `max_concurrent_requests`, \
             `heartbeat_secs`, `enrich`, `auth`, `initial_since`, `resources`, `initial`, \
             `list_path`, `list_query`, `date_format`, `window_start`, `window_end`, \
             `date_pointer`, `compare`, `next_pointer`, `offset_param`, `total_pointer`, \
             `confirm_path`, `event_prefix`, `recovery`)"
        )]
    );
    assert_eq!(run.stdout, "");
    assert!(!run.output().contains(&secret), "the secret was printed");
}

#[test]
fn check_lists_every_semantic_mistake_one_line_each_without_printing_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), THREE_MISTAKES);
    let config = config.to_str().unwrap();
    // A valid secret for `app`, which must not leak while the file is reported.
    let secret = SigningKey::generate_secret();
    let run = check(dir.path(), config, &secret);
    assert_eq!(run.status.code(), Some(2), "stdout:\n{}", run.stdout);
    assert_eq!(
        lines(&run.stderr),
        [
            format!(
                "{config}:9: destinations.audit.url: not a valid URL (relative URL without a base)"
            ),
            format!(
                "{config}:10: destinations.audit.secret_env: environment variable \
                 COURIER_AUDIT_SECRET is not set"
            ),
            format!(
                "{config}:13: connections.clinic-a.destination: unknown destination \"apps\" \
                 (defined: app, audit)"
            ),
        ]
    );
    assert_eq!(run.stdout, "");
    assert!(!run.output().contains(&secret), "the secret was printed");
}

#[test]
fn check_of_the_demo_template_says_it_is_the_demos_and_where_to_start_instead() {
    let dir = tempfile::tempdir().unwrap();
    let template = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/demo.toml");
    let template = template.to_str().unwrap();
    // As a newcomer types it: the file as the argument (the same as `--config FILE`).
    let run = courier(dir.path(), &["check", template], &[], QUICK);
    assert_eq!(run.status.code(), Some(2), "stdout:\n{}", run.stdout);
    // Every line of the template holding a placeholder is reported as the demo's, at its line.
    let placeholders: Vec<(usize, &str)> = read(Path::new(template))
        .lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let name = ["{demo_ehr}", "{demo_receiver}"]
                .into_iter()
                .find(|name| line.contains(&format!("\"{name}")))?;
            Some((i + 1, name))
        })
        .collect();
    assert!(placeholders.len() >= 2, "{placeholders:?}");
    for (line, name) in placeholders {
        let at = format!("{template}:{line}: ");
        let reported = lines(&run.stderr).into_iter().any(|l| {
            l.starts_with(&at)
                && l.contains(&format!(
                    "{name} is a placeholder that `courier demo` fills in: this file is the \
                     demo's template; to run against your own EHR, start from config/example.toml"
                ))
        });
        assert!(reported, "nothing said of {name} at {at}:\n{}", run.stderr);
    }
    assert!(!run.stderr.contains("not a valid URL"), "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "secret_env: environment variable COURIER_DEMO_SECRET is not set: `courier demo` \
             supplies it to its own templates"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn check_names_the_variable_of_an_unusable_secret_but_never_its_value() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), VALID);
    let config = config.to_str().unwrap();
    for (value, reason) in [
        (
            "whsec_this is not base64 but it is secret",
            "the part after \"whsec_\" is not valid base64",
        ),
        (
            "hunter2-pasted-without-prefix",
            "a signing secret must look like \"whsec_<base64>\"",
        ),
    ] {
        let run = check(dir.path(), config, value);
        assert_eq!(run.status.code(), Some(2), "stdout:\n{}", run.stdout);
        assert_eq!(
            lines(&run.stderr),
            [format!(
                "{config}:6: destinations.app.secret_env: environment variable \
                 COURIER_APP_SECRET: {reason}"
            )]
        );
        assert!(!run.output().contains(value), "the secret was printed");
    }
}

#[test]
fn run_with_a_broken_config_exits_2_without_creating_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let text = VALID.replace("var/courier", store.to_str().unwrap());
    let config = write_config(dir.path(), &text);
    let config = config.to_str().unwrap();
    // COURIER_APP_SECRET is left unset: the only mistake.
    let run = courier(
        dir.path(),
        &["run", "--config", config],
        &[("RUST_LOG", "info")],
        QUICK,
    );
    assert_eq!(run.status.code(), Some(2), "stdout:\n{}", run.stdout);
    assert_eq!(
        lines(&run.stderr),
        [format!(
            "{config}:6: destinations.app.secret_env: environment variable COURIER_APP_SECRET \
             is not set"
        )]
    );
    assert!(!store.exists(), "a refused configuration created the store");
    let created: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| !name.starts_with("courier."))
        .collect();
    assert!(created.is_empty(), "run created {created:?}");
}

/// One notification line of the demo:
/// `#12   appointment.cancelled  appt-3  attempt 2  patient "Alpha Testperson"  accepted`.
struct Line {
    sequence: u64,
    kind: String,
    key: String,
    attempt: u32,
    accepted: bool,
}

/// The demo's notification lines (those starting with `#`), each checked for its shape.
fn notification_lines(stdout: &str) -> Vec<Line> {
    stdout
        .lines()
        .filter(|line| line.starts_with('#'))
        .map(|line| parse_line(line).unwrap_or_else(|| panic!("unexpected line {line:?}")))
        .collect()
}

/// A notification line, when it has every field and its patient is a synthetic one (or `?`,
/// not enriched) and the receiver's answer is `accepted` or `answered <error status>`.
fn parse_line(line: &str) -> Option<Line> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let [sequence, kind, key, "attempt", attempt, "patient", rest @ ..] = words.as_slice() else {
        return None;
    };
    let answer = match rest {
        ["?", answer @ ..] => answer,
        [given, family, answer @ ..] => {
            let name = (given.strip_prefix('"')?, family.strip_suffix('"')?);
            courier_sim::demo_lines::is_synthetic_name(name.0, name.1).then_some(answer)?
        }
        _ => return None,
    };
    let accepted = match answer {
        ["accepted"] => true,
        ["answered", status] if status.parse::<u16>().is_ok_and(|s| s >= 400) => false,
        _ => return None,
    };
    Some(Line {
        sequence: sequence.strip_prefix('#')?.parse().ok()?,
        kind: (*kind).to_owned(),
        key: (*key).to_owned(),
        attempt: attempt.parse().ok()?,
        accepted,
    })
}

#[test]
fn demo_delivers_verified_notifications_and_exits_0_with_a_clean_summary() {
    let dir = tempfile::tempdir().unwrap();
    // Faults are on: they must not keep --exit-after from its count, nor from exiting 0.
    let run = courier(dir.path(), &["demo", "--exit-after", "5"], &[], DEMO_LIMIT);
    assert_eq!(
        run.status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        run.stdout,
        run.stderr
    );
    let notified = notification_lines(&run.stdout);
    for line in &notified {
        let kind = line.kind.as_str();
        assert!(APPOINTMENT_ACTIONS.contains(&kind), "type {kind}");
        assert!(
            line.key.starts_with("appt-") && line.attempt >= 1,
            "{}",
            line.key
        );
    }
    let accepted: std::collections::BTreeSet<u64> = notified
        .iter()
        .filter(|line| line.accepted)
        .map(|line| line.sequence)
        .collect();
    let failures = notified.iter().filter(|line| !line.accepted).count();
    assert!(accepted.len() >= 5, "only {} delivered", accepted.len());
    let out = lines(&run.stdout);
    assert_eq!(
        out.last().copied(),
        Some(
            format!(
                "courier demo: delivered={} duplicates=0 failures={failures} verified=all",
                accepted.len()
            )
            .as_str()
        ),
        "stdout:\n{}",
        run.stdout
    );
    assert!(
        out.iter()
            .any(|l| l.starts_with("courier demo: console at http://127.0.0.1:")),
        "{}",
        run.stdout
    );
    assert!(
        !dir.path().join("var").exists(),
        "the demo keeps its store in a temporary place"
    );
}

/// Runs `courier demo --source <source> --calm --exit-after 3` and checks that it exits 0
/// after verified notifications of types among `types`, each accepted at the first attempt,
/// with a clean summary and no fault announced.
/// The event types of the simulated feeds' items, `appointment.{/action}`.
const APPOINTMENT_ACTIONS: [&str; 4] = [
    "appointment.created",
    "appointment.updated",
    "appointment.cancelled",
    "appointment.rescheduled",
];

fn demo_source_delivers(source: &str, types: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let args = ["demo", "--source", source, "--calm", "--exit-after", "3"];
    let run = courier(dir.path(), &args, &[], DEMO_LIMIT);
    let context = format!("stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    assert_eq!(run.status.code(), Some(0), "{context}");
    let notified = notification_lines(&run.stdout);
    for line in &notified {
        assert!(line.key.starts_with("appt-"), "{}", line.key);
        assert!(types.contains(&line.kind.as_str()), "type {}", line.kind);
        assert!(line.accepted && line.attempt == 1, "{context}");
    }
    assert!(
        notified.len() >= 3,
        "only {} notifications; {context}",
        notified.len()
    );
    assert!(!run.stdout.contains("faults are injected"), "{context}");
    let summary = format!(
        "courier demo: delivered={} duplicates=0 failures=0 verified=all",
        notified.len()
    );
    assert_eq!(
        lines(&run.stdout).last().copied(),
        Some(summary.as_str()),
        "{context}"
    );
}

#[test]
fn demo_of_a_snapshot_source_notifies_schedule_changes_and_exits_0() {
    let types = [
        "appointment.created",
        "appointment.updated",
        "appointment.removed",
        "appointment.deleted",
    ];
    demo_source_delivers("snapshot", &types);
}

#[test]
fn demo_of_a_consume_once_feed_notifies_each_change_once_and_exits_0() {
    demo_source_delivers("consume-once", &APPOINTMENT_ACTIONS);
}
