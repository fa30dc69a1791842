//! The cluster's statements against a real PostgreSQL, a fresh database per test: leases
//! (taken, renewed, lapsed and taken over, handed back, raced for) and members.

mod leases;
mod members;

use std::time::Duration;

use crate::config::{PostgresConfig, Secret};
use crate::store::postgres::migrations::migrate;
use crate::store::postgres::Db;

/// A fresh database (dropped with the value) and a pool on it, with Courier's schema.
pub(super) struct TestDb {
    pub db: Db,
    _database: TestDatabase,
}

/// A database with Courier's schema migrated in, for the test `hint`.
pub(super) async fn fresh(hint: &str) -> TestDb {
    let database = fresh_database(hint);
    let config = PostgresConfig {
        url: Secret::new(database.url.clone()),
        url_env: "COURIER_TEST_DATABASE_URL".into(),
        pool_size: 8,
        schema: "courier".into(),
        ca_file: None,
    };
    let db = Db::new(&config).expect("a pool on the test database");
    migrate(&db).await.expect("the schema migrates");
    TestDb {
        db,
        _database: database,
    }
}

/// A lease short enough to watch lapse in a test.
pub(super) const SHORT: Duration = Duration::from_millis(300);

/// A lease no test waits out.
pub(super) const LONG: Duration = Duration::from_secs(60);

/// A fresh database on the local server, dropped with the value.
struct TestDatabase {
    url: String,
    name: String,
}

fn fresh_database(hint: &str) -> TestDatabase {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let name = format!("courier_cluster_{hint}_{}_{n}", std::process::id());
    psql(&format!("CREATE DATABASE {name}"));
    TestDatabase {
        url: format!("postgres://postgres@127.0.0.1:5432/{name}?sslmode=disable"),
        name,
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

fn psql(sql: &str) {
    let status = std::process::Command::new("psql")
        .args(["-h", "127.0.0.1", "-U", "postgres", "-qAt", "-c", sql])
        .status()
        .expect("psql runs");
    assert!(status.success(), "psql -c {sql:?} failed");
}
