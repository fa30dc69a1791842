//! Runs the official Standard Webhooks Python library (`standardwebhooks`), the reference
//! implementation our signatures must agree with byte for byte.
//!
//! The library is installed once per target directory into a virtualenv under
//! `CARGO_TARGET_TMPDIR/pyenv`. Concurrent tests in this process share it through a `OnceLock`;
//! concurrent processes (two checkouts sharing one target directory) each build a private
//! staging env and publish it with an atomic directory rename, so none ever sees a half-built
//! one. A missing `python3` fails the tests loudly: silently skipping would hide that the
//! reference check never ran.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};
use std::{fs, thread};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

/// The library version the reference check pins, so an upstream release cannot change a
/// verdict without a commit here.
const LIBRARY: &str = "standardwebhooks==1.1.0";

/// The script that calls the library; kept beside this file so it can be read and run alone.
const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/it/support/verify_standardwebhooks.py"
);

/// One message as a receiver sees it: the three Standard Webhooks headers and the raw body.
#[derive(Debug, Clone)]
pub struct SignedMessage {
    /// `webhook-id`.
    pub id: String,
    /// `webhook-timestamp`, Unix seconds as text.
    pub timestamp: String,
    /// `webhook-signature`, one or more space-separated `v1,<base64>`.
    pub signature: String,
    /// The exact bytes that were signed and sent.
    pub body: Vec<u8>,
}

/// Whether the reference library accepts each message with `secret`, in order.
pub fn reference_verify(secret: &str, messages: &[SignedMessage]) -> Vec<bool> {
    let messages: Vec<Value> = messages
        .iter()
        .map(|m| {
            json!({
                "id": m.id,
                "timestamp": m.timestamp,
                "signature": m.signature,
                "body_b64": STANDARD.encode(&m.body),
            })
        })
        .collect();
    let answer = run_script(json!({"op": "verify", "secret": secret, "messages": messages}));
    serde_json::from_value(answer).expect("the script answers a list of booleans")
}

/// The `webhook-signature` value the reference library makes for one message; the body must
/// be UTF-8, as the library signs text.
pub fn reference_sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    let message = json!({"id": id, "timestamp": timestamp, "body_b64": STANDARD.encode(body)});
    let answer = run_script(json!({"op": "sign", "secret": secret, "messages": [message]}));
    let signatures: Vec<String> =
        serde_json::from_value(answer).expect("the script answers a list of signatures");
    signatures.into_iter().next().expect("one signature")
}

/// Runs the script with `request` on stdin and returns its JSON answer; panics with the
/// script's stderr when it fails.
fn run_script(request: Value) -> Value {
    let mut child = Command::new(python())
        .arg(SCRIPT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the virtualenv's python starts");
    let input = serde_json::to_vec(&request).expect("a JSON value serializes");
    let mut stdin = child.stdin.take().expect("stdin is piped");
    // Write from another thread so a large request cannot deadlock against a full stdout pipe.
    let writer = thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().expect("the script runs");
    writer
        .join()
        .expect("the writer thread does not panic")
        .expect("the script reads its whole request");
    assert!(
        output.status.success(),
        "the Standard Webhooks reference script failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the script prints JSON")
}

/// The virtualenv's interpreter, made on first use; panics with the reason when it cannot be.
fn python() -> &'static Path {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match PYTHON.get_or_init(prepare_env) {
        Ok(python) => python,
        Err(reason) => panic!("{reason}"),
    }
}

/// Returns the interpreter of the shared virtualenv, building and publishing it if absent.
fn prepare_env() -> Result<PathBuf, String> {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("pyenv");
    let env_dir = root.join(LIBRARY.replace("==", "-"));
    if interpreter(&env_dir).exists() {
        return Ok(interpreter(&env_dir));
    }
    fs::create_dir_all(&root).map_err(|e| format!("cannot create {}: {e}", root.display()))?;
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let staging = root.join(format!(".staging-{}-{nanos}", std::process::id()));
    let built = build_env(&staging);
    let published = built.and_then(|()| match fs::rename(&staging, &env_dir) {
        Ok(()) => Ok(()),
        // Another process published first; its env is complete, so use it.
        Err(_) if interpreter(&env_dir).exists() => Ok(()),
        Err(e) => Err(format!("cannot publish {}: {e}", env_dir.display())),
    });
    // Only a failed or losing build leaves a staging dir behind.
    let _ = fs::remove_dir_all(&staging);
    published.map(|()| interpreter(&env_dir))
}

/// Creates a virtualenv at `dir` and installs the pinned library into it.
fn build_env(dir: &Path) -> Result<(), String> {
    let venv = Command::new("python3")
        .args(["-m", "venv"])
        .arg(dir)
        .output()
        .map_err(|e| {
            format!(
                "python3 is required for the Standard Webhooks reference tests and could not \
                 be run ({e}); install Python 3 with the venv module (CI does)"
            )
        })?;
    check(&venv, "python3 -m venv")?;
    let pip = Command::new(interpreter(dir))
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .arg(LIBRARY)
        .output()
        .map_err(|e| format!("cannot run pip in {}: {e}", dir.display()))?;
    check(&pip, &format!("pip install {LIBRARY} (is PyPI reachable?)"))
}

fn check(output: &Output, what: &str) -> Result<(), String> {
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

fn interpreter(env_dir: &Path) -> PathBuf {
    if cfg!(windows) {
        env_dir.join("Scripts").join("python.exe")
    } else {
        env_dir.join("bin").join("python")
    }
}
