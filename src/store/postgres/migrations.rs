//! The schema, created and migrated by Courier at start: numbered migrations, each applied
//! once in its own transaction and recorded in `courier_migrations`. Instances starting
//! together take the table's lock in turn (a table lock, not an advisory one), so each
//! migration runs exactly once.
//!
//! Every value Courier reads back whole (a container, a cursor, a dead letter) is a `bytea`
//! holding the same JSON encoding the sled store uses, so a store copy moves bytes, not
//! meanings; columns exist only for what a statement selects or orders on.
//!
//! Connection and destination names compare byte by byte (`COLLATE "C"`), as the sled
//! store's keys do: dead letters page in `<connection>/<sequence>` order, retained
//! notifications in delivery order and a scope's records in key order whatever the
//! database's locale. A dead letter's
//! `container` is empty when the container had already left pending (completed) when its
//! letter was written: a retry rebuilds it from the letter's standard body.

use deadpool_postgres::Pool;

use super::db::{db_error, Db};
use crate::store::StoreError;

/// One step of the schema.
pub struct Migration {
    /// Its number; applied in ascending order, never renumbered.
    pub version: i32,
    /// What it does, recorded beside its number.
    pub name: &'static str,
    /// The statements, run in one transaction.
    pub sql: &'static str,
}

/// Every migration, oldest first. Append only: a released migration never changes.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "store: connection state, pending containers, dead letters, FHIR tracks, retained",
        sql: "
CREATE TABLE connection_state (
    connection    text COLLATE \"C\" PRIMARY KEY,
    cursor        bytea  NOT NULL,
    next_sequence bigint NOT NULL
);
CREATE TABLE pending (
    connection      text COLLATE \"C\" NOT NULL,
    sequence        bigint      NOT NULL,
    notification_id text        NOT NULL,
    detected_at     timestamptz NOT NULL,
    container       bytea       NOT NULL,
    PRIMARY KEY (connection, sequence)
);
CREATE TABLE dead_letters (
    connection      text COLLATE \"C\" NOT NULL,
    sequence        bigint      NOT NULL,
    notification_id text        NOT NULL,
    destination     text COLLATE \"C\" NOT NULL,
    dead_at         timestamptz NOT NULL,
    letter          bytea       NOT NULL,
    container       bytea,
    PRIMARY KEY (connection, sequence)
);
CREATE INDEX dead_letters_by_id ON dead_letters (notification_id);
CREATE INDEX dead_letters_by_destination ON dead_letters (destination, connection, sequence);
CREATE TABLE fhir_cursors (
    connection text COLLATE \"C\" NOT NULL,
    type_name  text  NOT NULL,
    track      text  NOT NULL,
    cursor     bytea NOT NULL,
    PRIMARY KEY (connection, type_name, track)
);
CREATE TABLE fhir_seen (
    connection text COLLATE \"C\" NOT NULL,
    type_name  text  NOT NULL,
    id         text  NOT NULL,
    seen       bytea NOT NULL,
    PRIMARY KEY (connection, type_name, id)
);
CREATE TABLE retained (
    destination     text COLLATE \"C\" NOT NULL,
    delivered_at    timestamptz NOT NULL,
    connection      text COLLATE \"C\" NOT NULL,
    sequence        bigint      NOT NULL,
    notification_id text        NOT NULL,
    key             text        NOT NULL,
    body            bytea       NOT NULL,
    PRIMARY KEY (destination, delivered_at, connection, sequence)
);
",
    },
    Migration {
        version: 2,
        name: "cluster: members and connection leases",
        sql: "
CREATE TABLE members (
    instance     text        PRIMARY KEY,
    started_at   timestamptz NOT NULL,
    heartbeat_at timestamptz NOT NULL,
    config_hash  text        NOT NULL,
    admin_url    text
);
CREATE TABLE leases (
    connection text        PRIMARY KEY,
    owner      text,
    epoch      bigint      NOT NULL,
    expires_at timestamptz NOT NULL,
    redispatch bigint      NOT NULL DEFAULT 0
);
",
    },
    Migration {
        version: 3,
        name: "record sources: records by connection, scope and key",
        sql: "
CREATE TABLE records (
    connection text COLLATE \"C\" NOT NULL,
    scope      text COLLATE \"C\" NOT NULL,
    key        text COLLATE \"C\" NOT NULL,
    record     bytea NOT NULL,
    PRIMARY KEY (connection, scope, key)
);
",
    },
];

/// Creates the schema and applies the migrations it lacks; answers the version it is at.
pub async fn migrate(db: &Db) -> Result<i32, StoreError> {
    let schema = db.schema().to_owned();
    db.run(move |pool| apply(pool, schema)).await
}

async fn apply(pool: Pool, schema: String) -> Result<i32, StoreError> {
    let mut client = pool.get().await.map_err(|e| db_error("connecting", e))?;
    // Two instances creating the schema at once: one of them may see a unique violation
    // from the catalog; the second attempt finds it.
    let create = format!(
        "CREATE SCHEMA IF NOT EXISTS {schema}; \
         CREATE TABLE IF NOT EXISTS {schema}.courier_migrations (\
             version integer PRIMARY KEY, name text NOT NULL, \
             applied_at timestamptz NOT NULL DEFAULT now())"
    );
    if client.batch_execute(&create).await.is_err() {
        client
            .batch_execute(&create)
            .await
            .map_err(|e| db_error("creating the schema", e))?;
    }
    let mut version = 0;
    for migration in MIGRATIONS {
        let tx = client
            .transaction()
            .await
            .map_err(|e| db_error("migrating", e))?;
        tx.batch_execute("LOCK TABLE courier_migrations IN EXCLUSIVE MODE")
            .await
            .map_err(|e| db_error("locking the migrations table", e))?;
        let done = tx
            .query_opt(
                "SELECT 1 FROM courier_migrations WHERE version = $1",
                &[&migration.version],
            )
            .await
            .map_err(|e| db_error("reading the migrations table", e))?;
        if done.is_none() {
            tx.batch_execute(migration.sql)
                .await
                .map_err(|e| db_error(&format!("applying migration {}", migration.version), e))?;
            tx.execute(
                "INSERT INTO courier_migrations (version, name) VALUES ($1, $2)",
                &[&migration.version, &migration.name],
            )
            .await
            .map_err(|e| db_error("recording a migration", e))?;
            log::info!(
                "store: applied migration {} ({}) to schema {schema}",
                migration.version,
                migration.name
            );
        }
        tx.commit().await.map_err(|e| db_error("migrating", e))?;
        version = migration.version;
    }
    Ok(version)
}
