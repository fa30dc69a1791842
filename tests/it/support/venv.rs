//! Pinned PyPI packages for the tests, each installed once per target directory into its own
//! virtualenv under `CARGO_TARGET_TMPDIR/pyenv/<name>-<version>`.
//!
//! Concurrent tests in this process that want the same package share one install through a
//! per-package `OnceLock` (different packages install in parallel). Concurrent processes (two
//! checkouts sharing one target directory) each build a private staging env and publish it
//! with an atomic directory rename, so none ever sees a half-built one. A missing `python3`
//! fails the tests loudly: silently skipping would hide that a reference check never ran.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

/// A virtualenv holding one pinned package (and its dependencies), complete once published.
#[derive(Debug, Clone)]
pub struct Venv {
    dir: PathBuf,
}

impl Venv {
    /// The env for `requirement` (`name==version`), made on first use; panics with the
    /// reason when it cannot be.
    pub fn of(requirement: &'static str) -> Venv {
        type Cell = Arc<OnceLock<Result<Venv, String>>>;
        static ENVS: Mutex<BTreeMap<&'static str, Cell>> = Mutex::new(BTreeMap::new());
        let cell = ENVS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(requirement)
            .or_default()
            .clone();
        match cell.get_or_init(|| prepare(requirement)) {
            Ok(venv) => venv.clone(),
            Err(reason) => panic!("{reason}"),
        }
    }

    /// The env's interpreter. Run a package's programs through it (`python -m …`), not
    /// through its console scripts: pip wrote their `#!` line with the staging path, which
    /// is gone once the env is published, while the interpreter finds its env from its own
    /// location.
    pub fn python(&self) -> PathBuf {
        if cfg!(windows) {
            self.dir.join("Scripts").join("python.exe")
        } else {
            self.dir.join("bin").join("python")
        }
    }

    /// Runs `script` with this env's interpreter, `request` as JSON on its stdin, and returns
    /// the JSON it prints; panics naming `what` with the script's stderr when it fails.
    pub fn run_json_script(
        &self,
        script: &str,
        request: &impl serde::Serialize,
        what: &str,
    ) -> serde_json::Value {
        let mut child = Command::new(self.python())
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the virtualenv's python starts");
        let input = serde_json::to_vec(request).expect("the request serializes");
        let mut stdin = child.stdin.take().expect("stdin is piped");
        // Write from another thread so a large request cannot deadlock against a full stdout
        // pipe.
        let writer = std::thread::spawn(move || stdin.write_all(&input));
        let output = child.wait_with_output().expect("the script runs");
        writer
            .join()
            .expect("the writer thread does not panic")
            .expect("the script reads its whole request");
        assert!(
            output.status.success(),
            "the {what} script failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("the script prints JSON")
    }
}

/// Returns the shared env of `requirement`, building and publishing it if absent.
fn prepare(requirement: &str) -> Result<Venv, String> {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("pyenv");
    let published = Venv {
        dir: root.join(requirement.replace("==", "-")),
    };
    if published.python().exists() {
        return Ok(published);
    }
    fs::create_dir_all(&root).map_err(|e| format!("cannot create {}: {e}", root.display()))?;
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let staging = Venv {
        dir: root.join(format!(".staging-{}-{nanos}", std::process::id())),
    };
    let built = build(&staging, requirement);
    let outcome = built.and_then(|()| match fs::rename(&staging.dir, &published.dir) {
        Ok(()) => Ok(()),
        // Another process published first; its env is complete, so use it.
        Err(_) if published.python().exists() => Ok(()),
        Err(e) => Err(format!("cannot publish {}: {e}", published.dir.display())),
    });
    // Only a failed or losing build leaves a staging dir behind.
    let _ = fs::remove_dir_all(&staging.dir);
    outcome.map(|()| published)
}

/// Creates a virtualenv at `venv` and installs `requirement` into it.
fn build(venv: &Venv, requirement: &str) -> Result<(), String> {
    let created = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv.dir)
        .output()
        .map_err(|e| {
            format!(
                "python3 is required by the tests that use {requirement} and could not be run \
                 ({e}); install Python 3 with the venv module (CI does)"
            )
        })?;
    check(&created, "python3 -m venv")?;
    let pip = Command::new(venv.python())
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .arg(requirement)
        .output()
        .map_err(|e| format!("cannot run pip in {}: {e}", venv.dir.display()))?;
    check(
        &pip,
        &format!("pip install {requirement} (is PyPI reachable?)"),
    )
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
