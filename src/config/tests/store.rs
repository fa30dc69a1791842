//! `[store]` and `[cluster]`: sled by default, PostgreSQL with its connection string from the
//! environment, and the lease length.

use std::path::Path;
use std::time::Duration;

use super::{parse, valid_with, ORIGIN, SECRET};
use crate::config::{Config, StoreConfig};

/// The environment: the destination secret and a PostgreSQL connection string.
fn env(name: &str) -> Option<String> {
    match name {
        "COURIER_APP_SECRET" => Some(SECRET.to_owned()),
        "COURIER_DB" => Some("postgres://courier:pw@db.internal/courier?sslmode=require".into()),
        "BAD_DB" => Some("postgres://db.internal/courier?sslmode=sometimes".into()),
        _ => None,
    }
}

/// `VALID` with its `[store]` table (line 1) replaced by `store` (and anything after it).
fn with_store(store: &str) -> String {
    valid_with("[store]\npath = \"var/courier\"\n", &format!("{store}\n"))
}

fn load(text: &str) -> Result<Config, String> {
    parse(text, Path::new(ORIGIN), &env).map_err(|e| e.to_string())
}

#[test]
fn a_postgres_store_reads_its_url_from_the_environment_with_defaults() {
    let config = load(&with_store(
        "[store]\nbackend = \"postgres\"\nurl_env = \"COURIER_DB\"",
    ))
    .unwrap();
    let StoreConfig::Postgres(pg) = &config.store else {
        panic!("not postgres: {:?}", config.store)
    };
    assert_eq!(pg.url_env, "COURIER_DB");
    assert!(pg.url.expose().starts_with("postgres://courier:pw@"));
    assert_eq!((pg.pool_size, pg.schema.as_str()), (8, "courier"));
    assert_eq!(config.cluster.lease, Duration::from_secs(10));
    // The password never shows in the configuration's debug text (nor in messages).
    assert!(!format!("{config:?}").contains(":pw@"));
    assert_eq!(
        config.store.describe(),
        "postgres $COURIER_DB schema courier"
    );
}

#[test]
fn pool_size_schema_and_lease_secs_are_read() {
    let text = with_store(
        "[store]\nbackend = \"postgres\"\nurl_env = \"COURIER_DB\"\npool_size = 20\n\
         schema = \"courier_east\"\n\n[cluster]\nlease_secs = 30",
    );
    let config = load(&text).unwrap();
    let StoreConfig::Postgres(pg) = &config.store else {
        panic!("not postgres")
    };
    assert_eq!((pg.pool_size, pg.schema.as_str()), (20, "courier_east"));
    assert_eq!(config.cluster.lease, Duration::from_secs(30));
}

#[test]
fn a_postgres_store_without_its_url_is_refused_with_the_key() {
    let err = load(&with_store("[store]\nbackend = \"postgres\"")).unwrap_err();
    assert!(
        err.starts_with("config/courier.toml:1: store.url_env: required"),
        "{err}"
    );
    let err = load(&with_store(
        "[store]\nbackend = \"postgres\"\nurl_env = \"NOT_SET\"",
    ))
    .unwrap_err();
    assert!(err.contains("store.url_env"), "{err}");
    assert!(err.contains("NOT_SET"), "{err}");
}

#[test]
fn a_malformed_connection_string_is_refused_without_quoting_it() {
    let err = load(&with_store(
        "[store]\nbackend = \"postgres\"\nurl_env = \"BAD_DB\"",
    ))
    .unwrap_err();
    assert!(
        err.contains("store.url_env: $BAD_DB is not a PostgreSQL connection string"),
        "{err}"
    );
    assert!(!err.contains("db.internal"), "{err}");
}

#[test]
fn keys_of_the_other_backend_and_unknown_backends_are_refused() {
    let err = load(&with_store(
        "[store]\nbackend = \"postgres\"\nurl_env = \"COURIER_DB\"\npath = \"var/courier\"",
    ))
    .unwrap_err();
    assert!(
        err.contains("store.path: a postgres store has no directory"),
        "{err}"
    );
    let err = load(&with_store(
        "[store]\npath = \"var/courier\"\nurl_env = \"COURIER_DB\"",
    ))
    .unwrap_err();
    assert!(
        err.contains("store.url_env: only a backend = \"postgres\" store takes it"),
        "{err}"
    );
    let err = load(&with_store("[store]\nbackend = \"mysql\"")).unwrap_err();
    assert!(
        err.contains("store.backend: \"mysql\" is not a store backend"),
        "{err}"
    );
    let err = load(&with_store("[store]\nbackend = \"sled\"")).unwrap_err();
    assert!(
        err.contains("store.path: the sled store's directory is required"),
        "{err}"
    );
}

#[test]
fn schema_names_and_lease_lengths_are_bounded() {
    let err = load(&with_store(
        "[store]\nbackend = \"postgres\"\nurl_env = \"COURIER_DB\"\nschema = \"public; drop\"",
    ))
    .unwrap_err();
    assert!(
        err.contains("store.schema: \"public; drop\" is not a plain SQL name"),
        "{err}"
    );
    let err = load(&with_store(
        "[store]\npath = \"var/courier\"\n\n[cluster]\nlease_secs = 2",
    ))
    .unwrap_err();
    assert!(err.contains("cluster.lease_secs: at least 3"), "{err}");
    let err = load(&with_store(
        "[store]\nbackend = \"postgres\"\nurl_env = \"COURIER_DB\"\npool_size = 0",
    ))
    .unwrap_err();
    assert!(err.contains("store.pool_size"), "{err}");
}

#[test]
fn the_cluster_example_parses() {
    let text = include_str!("../../../config/cluster.toml");
    let env = |name: &str| match name {
        "COURIER_APP_SECRET" => Some(SECRET.to_owned()),
        "COURIER_DB_URL" => Some("postgres://courier@db.internal/courier?sslmode=require".into()),
        _ => None,
    };
    let config = parse(text, Path::new("config/cluster.toml"), &env)
        .unwrap_or_else(|e| panic!("refused:\n{e}"));
    assert!(matches!(config.store, StoreConfig::Postgres(_)));
    assert_eq!(config.cluster.lease, Duration::from_secs(10));
    assert_eq!(config.connections.len(), 2);
}
