//! `courier check --probe`: the real binary asks each FHIR server's `/metadata` whether it
//! can list the deletions a connection asks for, and says so before anything runs.

use std::process::Command;

use courier::delivery::signing::SigningKey;
use courier_sim::{SimFhir, VersionIds};

fn connection(id: &str, base_url: &str) -> String {
    format!(
        "[connections.{id}]\ndestination = \"app\"\nsource = \"fhir\"\nbase_url = {base_url:?}\n\
         allow_insecure_http = true\n\
         [[connections.{id}.resources]]\ntype = \"Appointment\"\ndeletes = true\n"
    )
}

#[actix_rt::test]
async fn check_probe_says_which_servers_cannot_list_deletions() {
    let with = SimFhir::start(VersionIds::Counter).unwrap();
    let without = SimFhir::start(VersionIds::Counter).unwrap();
    without.set_type_history(false);
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[store]\npath = \"store\"\n[destinations.app]\nurl = \"https://r.example.org/h\"\n\
         secret_env = \"COURIER_APP_SECRET\"\n{}{}",
        connection("with-history", &with.base_url()),
        connection("without-history", &without.base_url())
    );
    let path = dir.path().join("courier.toml");
    std::fs::write(&path, text).unwrap();
    let secret = SigningKey::generate_secret();
    // The servers run on this thread's System: the binary runs on another thread meanwhile.
    let output = actix_rt::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_courier"))
            .args(["check", "--probe", "--config"])
            .arg(&path)
            .env_clear()
            .env("COURIER_APP_SECRET", secret)
            .output()
            .expect("courier runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    let lines: Vec<&str> = stdout.lines().skip(1).collect();
    assert_eq!(
        lines,
        [
            "with-history: Appointment: type history supported, deletions are read",
            "without-history: the server's /metadata does not declare history-type for \
             Appointment: deletions of Appointment are not seen (deletes = true has no effect)"
        ]
    );
}
