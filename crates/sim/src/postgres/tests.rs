//! The test PostgreSQL: fresh databases on the shared server, and a throwaway cluster that
//! stops, refuses, restarts and keeps what was committed.

use super::tools::psql;
use super::*;

/// Whether a database `name` exists on the shared server.
fn exists(name: &str) -> bool {
    let sql = format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'");
    let count = psql(&server().admin_url(), &sql).expect("the server answers");
    count == "1"
}

#[test]
fn a_fresh_database_answers_and_is_gone_after_drop() {
    let db = server().fresh_database("answers");
    assert!(db.name.starts_with("courier_t_answers_"), "{}", db.name);
    assert_eq!(
        db.url,
        format!("{}/{}?sslmode=disable", server().base_url(), db.name)
    );
    assert_eq!(psql(&db.url, "SELECT 1").expect("SELECT 1"), "1");
    let name = db.name.clone();
    assert!(exists(&name));

    drop(db);

    assert!(!exists(&name), "{name} still exists after drop");
}

#[test]
fn a_database_with_an_open_session_is_still_dropped() {
    let db = server().fresh_database("busy");
    let name = db.name.clone();
    // A session that stays connected while the database is dropped, like a pool left open.
    let mut session = std::process::Command::new(super::tools::tool("psql"))
        .args(["-X", "-q", "-d", &db.url, "-c", "SELECT pg_sleep(60)"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("psql starts");
    let connected = crate::wait::until_blocking(
        std::time::Duration::from_secs(10),
        std::time::Duration::from_millis(10),
        || {
            let sql = format!("SELECT count(*) FROM pg_stat_activity WHERE datname = '{name}'");
            let count = psql(&server().admin_url(), &sql).ok()?;
            (count != "0").then_some(())
        },
    );
    assert!(connected.is_some(), "the session never connected");

    drop(db);

    assert!(!exists(&name), "{name} still exists after drop");
    let _ = session.kill();
    let _ = session.wait();
}

#[test]
fn two_fresh_databases_differ() {
    let first = server().fresh_database("differ");
    let second = server().fresh_database("differ");
    assert_ne!(first.name, second.name);
    assert_ne!(first.url, second.url);

    psql(&first.url, "CREATE TABLE only_here (id int)").expect("create table");

    let sql = "SELECT count(*) FROM pg_tables WHERE tablename = 'only_here'";
    assert_eq!(psql(&first.url, sql).expect("count"), "1");
    assert_eq!(psql(&second.url, sql).expect("count"), "0");
}

#[test]
fn many_tests_get_and_drop_their_databases_at_once() {
    let dbs: Vec<TestDatabase> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..8)
            .map(|_| scope.spawn(|| server().fresh_database("at_once")))
            .collect();
        threads
            .into_iter()
            .map(|thread| thread.join().expect("fresh_database"))
            .collect()
    });
    let mut names: Vec<String> = dbs.iter().map(|db| db.name.clone()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), 8);
    for db in &dbs {
        assert_eq!(psql(&db.url, "SELECT 1").expect("SELECT 1"), "1");
    }

    // Tests end in parallel too (each DROP DATABASE waits for a checkpoint; they share it).
    std::thread::scope(|scope| {
        for db in dbs {
            scope.spawn(move || drop(db));
        }
    });

    for name in &names {
        assert!(!exists(name), "{name} still exists after drop");
    }
}

#[test]
fn a_throwaway_cluster_stops_restarts_and_keeps_its_tables() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = ThrowawayCluster::init(dir.path(), free_port().expect("port")).expect("init");
    cluster.start().expect("start");
    assert_eq!(
        psql(&cluster.url("postgres"), "SELECT 1").expect("answers"),
        "1"
    );
    cluster.create_database("kept").expect("create database");
    let url = cluster.url("kept");
    psql(&url, "CREATE TABLE t (id int); INSERT INTO t VALUES (7)").expect("create");

    cluster.stop().expect("stop");
    let refused = psql(&url, "SELECT 1").expect_err("a stopped server refuses connections");
    assert!(
        refused.to_string().contains("refused"),
        "unexpected error: {refused}"
    );

    cluster.restart().expect("restart");
    assert_eq!(
        psql(&url, "SELECT id FROM t").expect("the table is kept"),
        "7"
    );

    cluster.restart().expect("restart while running");
    assert_eq!(
        psql(&url, "SELECT id FROM t").expect("the table is kept"),
        "7"
    );
}

#[test]
fn a_dropped_throwaway_cluster_is_stopped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = ThrowawayCluster::init(dir.path(), free_port().expect("port")).expect("init");
    cluster.start().expect("start");
    let url = cluster.url("postgres");

    drop(cluster);

    assert!(psql(&url, "SELECT 1").is_err(), "the server still answers");
}

#[test]
fn database_names_are_cut_to_what_postgres_keeps() {
    assert_eq!(
        database_name("Store::Pending-Row", 42, 3),
        "courier_t_store__pending_row_42_3"
    );
    let long = database_name(&"x".repeat(100), 4_194_304, u64::MAX);
    assert_eq!(long.len(), MAX_NAME_LEN);
    assert!(long.ends_with("_4194304_18446744073709551615"), "{long}");
}
