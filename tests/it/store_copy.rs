//! `courier store copy` as an operator runs it: refused while the instance runs ("stop the
//! instance first") and for a configuration whose store is not PostgreSQL; once the instance
//! stopped, its whole store moves into PostgreSQL with the same sequences, and the summary
//! says what moved.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use chrono::DateTime;
use courier::store::{RetainedRange, Store};
use courier_sim::wait::until_blocking;

use crate::support::app::{eventually, PATIENCE, SECRET_ENV};
use crate::support::process::{backlog, Rig};

/// The variable the cluster configuration reads its connection string from.
const URL_ENV: &str = "COURIER_DATABASE_URL";

/// The longest a copy of this small store may take (a refusal takes far less).
const COPY_WITHIN: Duration = Duration::from_secs(60);

/// How one run of `courier store copy` ended.
struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// Runs `courier store copy --from <rig's store> --config <config>` with the rig's secret and
/// `url` in [`URL_ENV`], and nothing else in its environment.
fn store_copy(rig: &Rig, config: &Path, url: &str) -> Run {
    let dir = rig.dir.path();
    let (out, err) = (dir.join("copy.stdout"), dir.join("copy.stderr"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_courier"))
        .args(["store", "copy", "--from"])
        .arg(dir.join("store"))
        .arg("--config")
        .arg(config)
        .env_clear()
        .env(SECRET_ENV, &rig.secret)
        .env(URL_ENV, url)
        .stdin(Stdio::null())
        .stdout(File::create(&out).unwrap())
        .stderr(File::create(&err).unwrap())
        .spawn()
        .expect("the courier binary starts");
    let exited = until_blocking(COPY_WITHIN, Duration::from_millis(20), || {
        child.try_wait().expect("waiting for courier")
    });
    let read = |path: &Path| std::fs::read_to_string(path).unwrap_or_default();
    let Some(status) = exited else {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "courier store copy still running after {COPY_WITHIN:?}: {}",
            read(&err)
        );
    };
    Run {
        status,
        stdout: read(&out),
        stderr: read(&err),
    }
}

/// The rig's configuration with its `[store]` made the PostgreSQL one, as `cluster.toml`.
fn cluster_config(rig: &Rig) -> PathBuf {
    let text = std::fs::read_to_string(rig.dir.path().join("courier.toml")).unwrap();
    let (store, rest) = text.split_once("\n\n").expect("[store] comes first");
    assert!(store.starts_with("[store]\npath = "), "{store}");
    let postgres = format!("[store]\nbackend = \"postgres\"\nurl_env = {URL_ENV:?}\n\n{rest}");
    let path = rig.dir.path().join("cluster.toml");
    std::fs::write(&path, postgres).unwrap();
    path
}

/// The one value `sql` answers in the database at `url`, as psql prints it.
fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([url, "-qAtc", sql])
        .output()
        .expect("psql runs");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The ids of the notifications `store` retained for `app`.
async fn retained_ids(store: &Store) -> Vec<String> {
    let mut reader = store.read_retained(&RetainedRange {
        destination: "app".into(),
        since: DateTime::UNIX_EPOCH,
        until: None,
        connection: None,
    });
    let mut ids = Vec::new();
    loop {
        let page = reader.next_page(100).await.unwrap();
        if page.is_empty() {
            return ids;
        }
        ids.extend(page.into_iter().map(|retained| retained.notification.id));
    }
}

#[actix_rt::test]
async fn store_copy_moves_a_stopped_instances_store_into_postgres_with_the_same_sequences() {
    let mut rig = Rig::new(backlog(60), "retain_hours = 1\n");
    let courier = rig.start();
    eventually("60 deliveries", PATIENCE, || rig.delivered() >= 60).await;
    let database = courier_sim::postgres::server().fresh_database("store_copy_cli");
    let cluster = cluster_config(&rig);

    let running = store_copy(&rig, &cluster, &database.url);
    assert_eq!(running.status.code(), Some(1), "{}", running.stderr);
    assert!(
        running.stderr.contains("stop the instance first"),
        "{}",
        running.stderr
    );
    let sled_config = rig.dir.path().join("courier.toml");
    let not_postgres = store_copy(&rig, &sled_config, &database.url);
    assert_eq!(
        not_postgres.status.code(),
        Some(2),
        "{}",
        not_postgres.stderr
    );
    assert!(
        not_postgres
            .stderr
            .contains("copies into a backend = \"postgres\" store"),
        "{}",
        not_postgres.stderr
    );

    courier.stop().await;
    let copied = store_copy(&rig, &cluster, &database.url);

    assert!(
        copied.status.success(),
        "{}{}",
        copied.stdout,
        copied.stderr
    );
    let store = rig.store();
    let state = store.connection_state("clinic-a", "0").await.unwrap();
    let (pending, retained) = (store.pending_count(), store.retained_count().await.unwrap());
    assert!(retained >= 60, "every delivery was retained: {retained}");
    let summary = &copied.stdout;
    assert!(
        summary.contains("copied into PostgreSQL schema courier:"),
        "{summary}"
    );
    assert!(summary.contains("  connections         1\n"), "{summary}");
    assert!(
        summary.contains(&format!("  pending             {pending}\n")),
        "{summary}"
    );
    assert!(
        summary.contains(&format!("  retained            {retained} (1 destination)")),
        "{summary}"
    );
    let next = "SELECT next_sequence FROM courier.connection_state WHERE connection = 'clinic-a'";
    assert_eq!(psql(&database.url, next), state.next_sequence.to_string());
    let rows = "SELECT count(*) FROM courier.retained WHERE destination = 'app'";
    assert_eq!(psql(&database.url, rows), retained.to_string());
    // Within one millisecond the table orders by sequence, the segment log by append.
    let ids = "SELECT string_agg(notification_id, ',' ORDER BY notification_id COLLATE \"C\") \
               FROM courier.retained";
    let mut sled_ids = retained_ids(&store).await;
    sled_ids.sort();
    assert_eq!(psql(&database.url, ids), sled_ids.join(","));
}
