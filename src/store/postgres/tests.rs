//! Tests of what only the PostgreSQL backend has: fencing by leases, migrations run by
//! instances starting together, a database outage seen in the store's health, and the
//! throughput of commits and completions. What every backend keeps is tested once for all in
//! `store::contract`, against this backend too.

mod fencing;
mod outage;
mod throughput;

use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::{FencePolicy, PgStore};
use crate::config::{PostgresConfig, Secret};
use crate::store::Store;

/// A database of its own for one test, dropped with the value.
pub(crate) struct TestDatabase {
    pub url: String,
    pub name: String,
}

/// The server the tests use (trust authentication, as `postgres`).
const SERVER: &str = "postgres://postgres@127.0.0.1:5432";

fn psql(sql: &str) -> std::process::Output {
    Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-qAtc",
            sql,
        ])
        .output()
        .expect("psql runs")
}

impl TestDatabase {
    /// A new empty database whose name starts with `hint`.
    pub(crate) fn fresh(hint: &str) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let hint: String = hint
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(24)
            .collect();
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!(
            "courier_pgstore_{}_{}_{n}",
            hint.to_lowercase(),
            std::process::id()
        );
        let created = psql(&format!("CREATE DATABASE {name}"));
        assert!(created.status.success(), "{created:?}");
        Self {
            url: format!("{SERVER}/{name}?sslmode=disable"),
            name,
        }
    }

    /// A store configuration for this database, in the default schema.
    pub(crate) fn config(&self) -> PostgresConfig {
        config_for(&self.url)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        psql(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}

/// A store configuration for `url`.
pub(crate) fn config_for(url: &str) -> PostgresConfig {
    PostgresConfig {
        url: Secret::new(url.to_owned()),
        url_env: "COURIER_TEST_DATABASE_URL".into(),
        pool_size: 4,
        schema: "courier".into(),
        ca_file: None,
    }
}

/// A store without leases over a fresh database (the database lives as long as the guard).
pub(crate) fn single_writer(hint: &str) -> (TestDatabase, Store, Arc<PgStore>) {
    let database = TestDatabase::fresh(hint);
    let (store, pg) =
        Store::postgres(&database.config(), FencePolicy::SingleWriter).expect("the store opens");
    (database, store, pg)
}

/// Runs `sql` in `database` as a test's setup (a lease row, a takeover).
pub(crate) fn sql(database: &TestDatabase, sql: &str) {
    let out = Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            &database.name,
            "-qAtc",
            sql,
        ])
        .output()
        .expect("psql runs");
    assert!(out.status.success(), "{out:?}");
}

/// What `query` answers in `database`, one line per row.
pub(crate) fn query(database: &TestDatabase, query: &str) -> String {
    let out = Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            &database.name,
            "-qAtc",
            query,
        ])
        .output()
        .expect("psql runs");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}
