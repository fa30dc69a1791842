//! The cluster's statements against a real PostgreSQL, a fresh database per test: leases
//! (taken, renewed, lapsed and taken over, handed back, raced for) and members.

mod fencing;
mod leases;
mod members;

use std::time::Duration;

use courier_sim::postgres::{server, TestDatabase};

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
    let database = server().fresh_database(&format!("cluster_{hint}"));
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
