//! Tests of what only the PostgreSQL backend has: fencing by leases, migrations run by
//! instances starting together, a database outage seen in the store's health, and the
//! throughput of commits and completions. What every backend keeps is tested once for all in
//! `store::contract`, against this backend too.

mod fencing;
mod outage;
mod throughput;

use std::process::Command;
use std::sync::Arc;

pub(crate) use courier_sim::postgres::TestDatabase;

use super::{FencePolicy, PgStore};
use crate::config::{PostgresConfig, Secret};
use crate::store::Store;

/// A fresh database of its own for one test (on the local server, or a throwaway cluster).
pub(crate) fn fresh(hint: &str) -> TestDatabase {
    courier_sim::postgres::server().fresh_database(hint)
}

/// `host:port` of the tests' server, for a proxy in front of it.
pub(crate) fn server_addr() -> String {
    let base = courier_sim::postgres::server().base_url();
    base.rsplit_once('@')
        .map_or(base, |(_, addr)| addr)
        .to_owned()
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
    let database = fresh(hint);
    let config = config_for(&database.url);
    let (store, pg) = Store::postgres(&config, FencePolicy::SingleWriter).expect("the store opens");
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
