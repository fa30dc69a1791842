//! `courier demo` as a newcomer runs it, operated from another terminal: its admin API (and
//! console) on loopback, the exact `courier status` and `courier dlq list` commands it prints,
//! and the faults it injects by default: a poison record that ends as a dead letter, and an
//! appointment cancelled then rescheduled, notified with those event types.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use courier::admin::client::DEFAULT_URL;
use courier_sim::demo_faults::POISON_KEY;
use courier_sim::demo_lines::OUT_OF_ORDER;
use courier_sim::wait::until_blocking;

use crate::support::admin::get;

/// How long the demo may take to print its console URL: it starts two simulators first.
const START: Duration = Duration::from_secs(30);
/// How long until the script's cancel (second 3) and reschedule (second 6) are delivered.
const SEMANTIC_TYPES: Duration = Duration::from_secs(60);
/// How long until the poison record (changed at second 1) is dead-lettered: its 8.7 s retry
/// schedule, with jitter, on a busy machine.
const DEAD_LETTER: Duration = Duration::from_secs(90);
/// How long a Ctrl-C may take: the demo's 2 s grace and the servers' stops.
const STOP: Duration = Duration::from_secs(20);
/// How often the demo's output and the dead letters are looked at.
const LOOK_EVERY: Duration = Duration::from_millis(50);

/// A running `courier demo`, its output going to a file; killed when dropped.
struct Demo {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
    /// Holds the output files and is the demo's working directory.
    _dir: tempfile::TempDir,
}

impl Demo {
    /// Starts `courier demo args…` with an empty environment.
    fn start(args: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (stdout, stderr) = (dir.path().join("stdout"), dir.path().join("stderr"));
        let child = Command::new(env!("CARGO_BIN_EXE_courier"))
            .arg("demo")
            .args(args)
            .current_dir(dir.path())
            .env_clear()
            .stdin(Stdio::null())
            .stdout(File::create(&stdout).unwrap())
            .stderr(File::create(&stderr).unwrap())
            .spawn()
            .expect("the courier binary starts");
        Self {
            child,
            stdout,
            stderr,
            _dir: dir,
        }
    }

    /// Everything it printed on stdout so far.
    fn output(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    /// Both streams, for a failure message.
    fn context(&self) -> String {
        let stderr = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        format!("stdout:\n{}\nstderr:\n{stderr}", self.output())
    }

    /// Waits until `probe` finds what it looks for in the output; fails naming `what`.
    fn wait_for<T>(&self, what: &str, limit: Duration, probe: impl Fn(&str) -> Option<T>) -> T {
        until_blocking(limit, LOOK_EVERY, || probe(&self.output()))
            .unwrap_or_else(|| panic!("no {what} within {limit:?}; {}", self.context()))
    }

    /// The console URL it printed, and the base URL of its admin API.
    fn admin(&self) -> (String, String) {
        let console = self.wait_for("console URL", START, |out| {
            out.lines()
                .find_map(|line| line.strip_prefix("courier demo: console at "))
                .map(str::to_owned)
        });
        let base = console
            .strip_suffix("/console/")
            .unwrap_or_else(|| panic!("the console is at /console/, not {console}"))
            .to_owned();
        (console, base)
    }

    /// The `courier …` commands it printed for another terminal, as arguments.
    fn commands(&self) -> Vec<Vec<String>> {
        self.output()
            .lines()
            .filter_map(|line| line.strip_prefix("  courier "))
            .map(|command| command.split_whitespace().map(str::to_owned).collect())
            .collect()
    }

    /// Ctrl-C, then its exit status and its output.
    fn interrupt(mut self) -> (ExitStatus, String) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-INT", &pid]).status().unwrap();
        assert!(sent.success(), "kill -INT {pid} failed");
        let exited = until_blocking(STOP, LOOK_EVERY, || self.child.try_wait().unwrap());
        let status = exited.unwrap_or_else(|| panic!("no exit after Ctrl-C; {}", self.context()));
        (status, self.output())
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        // Errors only mean the process was already reaped.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `courier args…` as a person would in another terminal; its stdout, once it succeeded.
fn courier(args: &[String]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_courier"))
        .args(args)
        .env_clear()
        .output()
        .expect("courier runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "courier {args:?}: {stdout}{stderr}"
    );
    stdout
}

/// The printed command that starts with `words`, checked to reach `admin`.
fn command(commands: &[Vec<String>], words: &[&str], admin: &str) -> Vec<String> {
    let found = commands
        .iter()
        .find(|command| {
            command.starts_with(&words.iter().map(|w| w.to_string()).collect::<Vec<_>>())
        })
        .unwrap_or_else(|| panic!("no `courier {}` among {commands:?}", words.join(" ")))
        .clone();
    let rest = &found[words.len()..];
    if admin == DEFAULT_URL {
        assert!(rest.is_empty(), "the default needs no --admin: {found:?}");
    } else {
        assert_eq!(rest, ["--admin", admin], "{found:?}");
    }
    found
}

#[test]
fn demo_serves_its_admin_api_and_console_and_prints_commands_that_reach_it() {
    let demo = Demo::start(&[]);
    let (console, admin) = demo.admin();
    assert!(admin.starts_with("http://127.0.0.1:"), "{admin}");
    let (status, page) = actix_rt::System::new()
        .block_on(async { (get(&admin, "/status").await, get(&admin, "/console/").await) });
    assert!(status.status.is_success(), "{}", status.text);
    assert!(
        status.json()["connections"]["clinic-a"].is_object(),
        "{}",
        status.text
    );
    assert!(page.status.is_success(), "{console}: {}", page.status);

    let commands = demo.commands();
    let table = courier(&command(&commands, &["status"], &admin));
    assert!(
        table.lines().any(|line| line.starts_with("clinic-a")),
        "courier status shows the demo's connection:\n{table}"
    );
    command(&commands, &["dlq", "list"], &admin);
    // A demo stopped before it delivered anything has shown nothing, and exits 1 saying so.
    demo.wait_for("a delivered notification", SEMANTIC_TYPES, |out| {
        let accepted = |line: &str| line.starts_with('#') && line.ends_with("accepted");
        out.lines().any(accepted).then_some(())
    });
    let (exit, out) = demo.interrupt();
    assert!(
        exit.success(),
        "Ctrl-C ends the demo cleanly: {exit}\n{out}"
    );
    assert!(
        out.lines()
            .last()
            .unwrap_or_default()
            .ends_with("verified=all"),
        "{out}"
    );
}

#[test]
fn demo_faults_dead_letter_the_poison_record_and_show_cancelled_and_rescheduled() {
    let demo = Demo::start(&[]);
    let (_, admin) = demo.admin();
    let dlq = command(&demo.commands(), &["dlq", "list"], &admin);
    demo.wait_for(
        "cancelled and rescheduled notifications",
        SEMANTIC_TYPES,
        |out| {
            let delivered = |kind: &str| {
                out.lines()
                    .any(|l| l.starts_with('#') && l.contains(kind) && l.ends_with("accepted"))
            };
            (delivered(" appointment.cancelled ") && delivered(" appointment.rescheduled "))
                .then_some(())
        },
    );
    let letters = until_blocking(DEAD_LETTER, LOOK_EVERY * 10, || {
        let list = courier(&dlq);
        list.contains("clinic-a/").then_some(list)
    })
    .unwrap_or_else(|| panic!("no dead letter; {}", demo.context()));
    assert!(
        letters.contains("422"),
        "the receiver's refusal is the last error:\n{letters}"
    );
    let (exit, out) = demo.interrupt();
    assert!(exit.success(), "{exit}\n{out}");

    let refused: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with('#') && l.ends_with("answered 422"))
        .collect();
    assert!(
        refused.len() >= 6
            && refused
                .iter()
                .all(|l| l.contains(&format!(" {POISON_KEY} "))),
        "the poison record refused on each of its attempts:\n{out}"
    );
    assert!(
        out.contains(&format!(
            "the receiver refuses every notification of {POISON_KEY}"
        )),
        "{out}"
    );
    explained_once_before_the_first_line_out_of_order(&out);
}

/// The explanation of per-key ordering comes once, right before the first line whose
/// sequence is below one printed earlier, or not at all when none is.
fn explained_once_before_the_first_line_out_of_order(out: &str) {
    let lines: Vec<&str> = out.lines().collect();
    let mut highest = 0;
    let first_late = lines.iter().position(|line| {
        let Some(sequence) = line.strip_prefix('#').and_then(|l| l.split(' ').next()) else {
            return false;
        };
        let sequence: u64 = sequence.parse().expect("a numeric sequence");
        let late = sequence < highest;
        highest = highest.max(sequence);
        late
    });
    let explained: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i] == OUT_OF_ORDER)
        .collect();
    match first_late {
        Some(at) => assert_eq!(explained, [at - 1], "{out}"),
        None => assert!(explained.is_empty(), "{out}"),
    }
}
