//! The bench database: Courier's store schema (migrations 1 and 2 of
//! `src/store/postgres/migrations.rs`, copied verbatim), the fixtures every run starts from
//! (a lease and a state row per connection), and the pending rows a completion run consumes.
//! Set-up uses tokio-postgres directly and is never timed.

use tokio_postgres::{Client, NoTls};

use crate::workload::{connection_names, FENCE_EPOCH, FENCE_OWNER};

/// Migrations 1 and 2 of Courier's PostgreSQL store, so both drivers run against the same
/// tables, keys and indexes as the product.
const SCHEMA: &str = "
CREATE TABLE connection_state (
    connection    text   PRIMARY KEY,
    cursor        bytea  NOT NULL,
    next_sequence bigint NOT NULL
);
CREATE TABLE pending (
    connection      text        NOT NULL,
    sequence        bigint      NOT NULL,
    notification_id text        NOT NULL,
    detected_at     timestamptz NOT NULL,
    container       bytea       NOT NULL,
    PRIMARY KEY (connection, sequence)
);
CREATE TABLE dead_letters (
    connection      text        NOT NULL,
    sequence        bigint      NOT NULL,
    notification_id text        NOT NULL,
    destination     text        NOT NULL,
    dead_at         timestamptz NOT NULL,
    letter          bytea       NOT NULL,
    container       bytea       NOT NULL,
    PRIMARY KEY (connection, sequence)
);
CREATE INDEX dead_letters_by_id ON dead_letters (notification_id);
CREATE TABLE fhir_cursors (
    connection text  NOT NULL,
    type_name  text  NOT NULL,
    track      text  NOT NULL,
    cursor     bytea NOT NULL,
    PRIMARY KEY (connection, type_name, track)
);
CREATE TABLE fhir_seen (
    connection text  NOT NULL,
    type_name  text  NOT NULL,
    id         text  NOT NULL,
    seen       bytea NOT NULL,
    PRIMARY KEY (connection, type_name, id)
);
CREATE TABLE retained (
    destination     text        NOT NULL,
    delivered_at    timestamptz NOT NULL,
    connection      text        NOT NULL,
    sequence        bigint      NOT NULL,
    notification_id text        NOT NULL,
    key             text        NOT NULL,
    body            bytea       NOT NULL,
    PRIMARY KEY (destination, delivered_at, connection, sequence)
);
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
";

/// Opens a plain set-up connection (the driver under test is not used for set-up).
pub async fn connect(url: &str) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            eprintln!("setup connection: {e}");
        }
    });
    Ok(client)
}

/// Creates the bench database beside the server's `postgres` database when it is missing.
pub async fn ensure_database(admin_url: &str, name: &str) -> Result<(), tokio_postgres::Error> {
    let admin = connect(admin_url).await?;
    let exists = admin
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await?
        .is_some();
    if !exists {
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await?;
    }
    Ok(())
}

/// Recreates the tables and the fixtures: one live lease held by the bench's fence and one
/// state row per connection.
pub async fn create(client: &Client) -> Result<(), tokio_postgres::Error> {
    client
        .batch_execute(
            "DROP TABLE IF EXISTS connection_state, pending, dead_letters, fhir_cursors, \
             fhir_seen, retained, members, leases",
        )
        .await?;
    client.batch_execute(SCHEMA).await?;
    let names = connection_names();
    client
        .execute(
            "INSERT INTO leases (connection, owner, epoch, expires_at) \
             SELECT c, $2, $3, now() + interval '1 day' FROM unnest($1::text[]) AS c",
            &[&names, &FENCE_OWNER, &FENCE_EPOCH],
        )
        .await?;
    client
        .execute(
            "INSERT INTO connection_state (connection, cursor, next_sequence) \
             SELECT c, convert_to('{}', 'UTF8'), 0 FROM unnest($1::text[]) AS c",
            &[&names],
        )
        .await?;
    Ok(())
}

/// Empties what a run writes, so every run starts from the same tables, and checkpoints so a
/// checkpoint of the previous run's writes does not land inside the next one.
pub async fn reset(client: &Client) -> Result<(), tokio_postgres::Error> {
    client
        .batch_execute(
            "TRUNCATE pending, retained; \
             UPDATE connection_state SET next_sequence = 0; \
             CHECKPOINT",
        )
        .await
}

/// Fills `per_connection` pending rows (sequences `0..per_connection`, ~700-byte containers)
/// for every connection, for a completion run to delete.
pub async fn prefill(client: &Client, per_connection: i64) -> Result<(), tokio_postgres::Error> {
    let names = connection_names();
    client
        .execute(
            "INSERT INTO pending (connection, sequence, notification_id, detected_at, container) \
             SELECT c, s, c || '-' || s, now(), convert_to(repeat('x', 700), 'UTF8') \
             FROM unnest($1::text[]) AS c, generate_series(0, $2::bigint - 1) AS s",
            &[&names, &per_connection],
        )
        .await?;
    client
        .execute(
            "UPDATE connection_state SET next_sequence = $1",
            &[&per_connection],
        )
        .await?;
    client.batch_execute("ANALYZE pending; CHECKPOINT").await
}

/// The rows a run left in `pending` and in `retained`, to check each run wrote what it counted.
pub async fn counts(client: &Client) -> Result<(i64, i64), tokio_postgres::Error> {
    let row = client
        .query_one(
            "SELECT (SELECT count(*) FROM pending), (SELECT count(*) FROM retained)",
            &[],
        )
        .await?;
    Ok((row.get(0), row.get(1)))
}
