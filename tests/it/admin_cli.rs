//! The real binary's operations surface: `courier run` serves the admin API and reloads on
//! SIGHUP, and `courier status` prints a running instance's status as a table.

use std::future::ready;
use std::process::{Command, Output};

use courier_sim::{Route, SimEhr, SimEhrOptions};

use crate::support::admin::get;
use crate::support::app::{config_text, eventually, ConnectionSpec, PATIENCE};
use crate::support::process::Rig;
use courier_sim::wait::until;

/// `courier status` with `args`, its environment cleared.
fn courier_status(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_courier"))
        .arg("status")
        .args(args)
        .env_clear()
        .output()
        .expect("courier status runs")
}

#[actix_rt::test]
async fn sighup_adds_a_connection_and_courier_status_shows_both() {
    let mut rig = Rig::new(SimEhrOptions::default(), "");
    rig.log_filter = "info";
    let second = SimEhr::start(SimEhrOptions {
        initial_changes: 3,
        ..SimEhrOptions::default()
    })
    .unwrap();
    let courier = rig.start();
    let admin = rig.admin_url().await;
    assert!(admin.starts_with("http://127.0.0.1:"), "{admin}");

    let text = config_text(
        &rig.dir.path().join("store"),
        &rig.receiver.url(),
        "",
        &[
            ConnectionSpec::new("clinic-a", &rig.ehr),
            ConnectionSpec::new("clinic-b", &second),
        ],
    );
    std::fs::write(rig.dir.path().join("courier.toml"), text).unwrap();
    courier.signal("HUP");
    eventually("clinic-b's changes delivered", PATIENCE, || {
        rig.delivered() == 3
    })
    .await;
    let status = get(&admin, "/status").await.json();
    assert!(status["connections"]["clinic-b"].is_object(), "{status}");

    let shown = courier_status(&["--admin", &admin]);
    let table = String::from_utf8_lossy(&shown.stdout).into_owned();
    assert!(
        shown.status.success(),
        "{table}{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    let row = |id: &str| table.lines().find(|l| l.starts_with(id)).map(str::to_owned);
    assert!(
        row("clinic-a").is_some() && row("clinic-b").is_some(),
        "{table}"
    );
    assert!(
        row("app").unwrap().contains(" 3"),
        "3 delivered to app:\n{table}"
    );
    assert!(
        !table.contains('\x1b'),
        "no colour when stdout is not a terminal:\n{table}"
    );
    courier.stop().await;
    let logs = rig.log_text();
    assert!(logs.contains("SIGHUP received"), "{logs}");
    assert!(logs.contains("configuration reloaded: 1 added"), "{logs}");
}

#[test]
fn courier_status_without_a_running_instance_says_so_and_exits_1() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let shown = courier_status(&["--admin", &closed]);
    assert_eq!(shown.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&shown.stderr);
    assert!(stderr.contains("cannot reach the admin API"), "{stderr}");
}

#[actix_rt::test]
async fn run_exits_1_when_the_admin_address_is_taken() {
    let rig = Rig::new(SimEhrOptions::default(), "");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let config = rig.dir.path().join("courier.toml");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "listen = \"127.0.0.1:0\"",
        &format!("listen = \"{}\"", taken.local_addr().unwrap()),
    );
    std::fs::write(&config, text).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_courier"))
        .args(["run", "--config"])
        .arg(&config)
        .env_clear()
        .env(crate::support::app::SECRET_ENV, &rig.secret)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let every = std::time::Duration::from_millis(20);
    let exited = until(PATIENCE, every, || ready(child.try_wait().unwrap())).await;
    let Some(status) = exited else {
        child.kill().unwrap();
        panic!("courier kept running with its admin address taken");
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("the admin API cannot listen on"),
        "{stderr}"
    );
    assert_eq!(
        rig.ehr.requests(Route::Feed),
        0,
        "it polled before refusing"
    );
}
