//! Everything a store holds, read whole from sled (through its export iterators and replay
//! reader) or from the copy's tables (decoded by the schema's encoding), so a test compares
//! the two with one `assert_eq!`; and the databases the tests copy into.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use courier_sim::postgres::TestDatabase;

use crate::config::{PostgresConfig, Secret};
use crate::model::{Container, DeadLetter};
use crate::store::postgres::Db;
use crate::store::sled::export::{FhirCursorRecord, Records, SeenRecord, StoredRecord};
use crate::store::sled::SledStore;
use crate::store::traits::ConnectionState;
use crate::store::{RetainedKey, RetainedRange, RetainedStore};

/// A retained notification as compared: its key, then id, record key and body bytes.
type RetainedRow = (RetainedKey, String, String, Vec<u8>);

/// What a store holds, table by table, in key order.
#[derive(Debug, PartialEq)]
pub(super) struct Snapshot {
    pub connections: Vec<(String, ConnectionState)>,
    pub pending: Vec<Container>,
    pub dead_letters: Vec<(DeadLetter, Option<Container>)>,
    pub fhir_cursors: Vec<FhirCursorRecord>,
    pub fhir_seen: Vec<SeenRecord>,
    pub retained: Vec<RetainedRow>,
    pub records: Vec<StoredRecord>,
}

impl Snapshot {
    /// What `sled` holds.
    pub async fn of_sled(sled: &SledStore) -> Self {
        fn all<T>(records: Records<T>) -> Vec<T> {
            records.map(|record| record.unwrap()).collect()
        }
        let mut retained = Vec::new();
        for destination in sled.retained_destinations().unwrap() {
            let mut reader = sled.read_retained(&RetainedRange {
                destination,
                since: DateTime::UNIX_EPOCH,
                until: None,
                connection: None,
            });
            loop {
                let page = reader.next_page(100).await.unwrap();
                if page.is_empty() {
                    break;
                }
                retained.extend(page.into_iter().map(|r| {
                    let n = r.notification;
                    (r.key, n.id, n.key, n.body.to_vec())
                }));
            }
        }
        Self {
            connections: all(sled.export_connection_states().unwrap()),
            pending: all(sled.export_pending().unwrap()),
            dead_letters: all(sled.export_dead_letters().unwrap()),
            fhir_cursors: all(sled.export_fhir_cursors().unwrap()),
            fhir_seen: all(sled.export_fhir_seen().unwrap()),
            retained,
            records: all(sled.export_records().unwrap()),
        }
    }

    /// What the copy's tables in `db` hold, each column beside a blob checked against it.
    pub async fn of_database(db: &Db) -> Self {
        let rows = |sql: &'static str| query(db, sql);
        Self {
            connections: rows(
                "SELECT connection, cursor, next_sequence FROM connection_state \
                 ORDER BY connection COLLATE \"C\"",
            )
            .await
            .iter()
            .map(connection_row)
            .collect(),
            pending: rows(
                "SELECT connection, sequence, notification_id, detected_at, container \
                 FROM pending ORDER BY connection COLLATE \"C\", sequence",
            )
            .await
            .iter()
            .map(|row| pending_row(row, 4))
            .collect(),
            dead_letters: rows(
                "SELECT connection, sequence, notification_id, destination, letter, container \
                 FROM dead_letters ORDER BY connection COLLATE \"C\", sequence",
            )
            .await
            .iter()
            .map(dead_letter_row)
            .collect(),
            fhir_cursors: rows(
                "SELECT connection, type_name, track, cursor FROM fhir_cursors \
                 ORDER BY connection COLLATE \"C\", type_name COLLATE \"C\", track COLLATE \"C\"",
            )
            .await
            .iter()
            .map(|row| FhirCursorRecord {
                connection: row.get(0),
                type_name: row.get(1),
                track: row.get(2),
                cursor: decode(row, 3),
            })
            .collect(),
            fhir_seen: rows(
                "SELECT connection, type_name, id, seen FROM fhir_seen \
                 ORDER BY connection COLLATE \"C\", type_name COLLATE \"C\", id COLLATE \"C\"",
            )
            .await
            .iter()
            .map(|row| SeenRecord {
                connection: row.get(0),
                type_name: row.get(1),
                id: row.get(2),
                seen: decode(row, 3),
            })
            .collect(),
            retained: rows(
                "SELECT destination, delivered_at, connection, sequence, notification_id, key, \
                 body FROM retained ORDER BY destination COLLATE \"C\", delivered_at, \
                 connection COLLATE \"C\", sequence",
            )
            .await
            .iter()
            .map(retained_row)
            .collect(),
            records: rows(
                "SELECT connection, scope, key, record FROM records \
                 ORDER BY connection COLLATE \"C\", scope COLLATE \"C\", key COLLATE \"C\"",
            )
            .await
            .iter()
            .map(|row| StoredRecord {
                connection: row.get(0),
                scope: row.get(1),
                key: row.get(2),
                record: decode(row, 3),
            })
            .collect(),
        }
    }

    /// The stored state of `connection`.
    pub fn connection(&self, connection: &str) -> Option<&ConnectionState> {
        let mut states = self.connections.iter();
        states.find(|(id, _)| id == connection).map(|(_, s)| s)
    }

    /// Connection and sequence of each pending container.
    pub fn pending_keys(&self) -> Vec<(&str, u64)> {
        let keys = self.pending.iter();
        keys.map(|c| (c.connection.as_str(), c.sequence)).collect()
    }

    /// The retained notifications' ids, per destination in delivery order.
    pub fn retained_ids(&self) -> Vec<String> {
        self.retained
            .iter()
            .map(|(_, id, _, _)| id.clone())
            .collect()
    }
}

fn decode<T: serde::de::DeserializeOwned>(row: &Row, column: usize) -> T {
    serde_json::from_slice(row.get::<_, &[u8]>(column)).unwrap()
}

fn sequence(row: &Row, column: usize) -> u64 {
    u64::try_from(row.get::<_, i64>(column)).unwrap()
}

fn connection_row(row: &Row) -> (String, ConnectionState) {
    let state = ConnectionState {
        cursor: decode(row, 1),
        next_sequence: sequence(row, 2),
    };
    (row.get(0), state)
}

/// A pending row's container (in `column`), checked against the row's other columns.
fn pending_row(row: &Row, column: usize) -> Container {
    let container: Container = decode(row, column);
    assert_eq!(row.get::<_, String>(0), container.connection);
    assert_eq!(sequence(row, 1), container.sequence);
    assert_eq!(row.get::<_, String>(2), container.notification_id);
    let detected_at: DateTime<Utc> = row.get(3);
    assert_eq!(
        detected_at.timestamp_micros(),
        container.detected_at.timestamp_micros()
    );
    container
}

fn dead_letter_row(row: &Row) -> (DeadLetter, Option<Container>) {
    let letter: DeadLetter = decode(row, 4);
    let container = row.get::<_, Option<&[u8]>>(5);
    let container: Option<Container> =
        container.map(|bytes| serde_json::from_slice(bytes).unwrap());
    assert_eq!(row.get::<_, String>(0), letter.connection);
    assert_eq!(sequence(row, 1), letter.sequence);
    assert_eq!(row.get::<_, String>(2), letter.notification_id);
    assert_eq!(row.get::<_, String>(3), letter.destination);
    (letter, container)
}

fn retained_row(row: &Row) -> RetainedRow {
    let key = RetainedKey {
        destination: row.get(0),
        delivered_at: row.get(1),
        connection: row.get(2),
        sequence: sequence(row, 3),
    };
    (key, row.get(4), row.get(5), row.get(6))
}

/// Every row `sql` answers in `db`.
async fn query(db: &Db, sql: &'static str) -> Vec<Row> {
    db.run(move |pool| async move {
        let client = pool.get().await.unwrap();
        Ok(client.query(sql, &[]).await.unwrap())
    })
    .await
    .unwrap()
}

/// Runs `sql` in `db`.
pub(super) async fn execute(db: &Db, sql: &'static str) {
    db.run(move |pool| async move {
        let client = pool.get().await.unwrap();
        client.batch_execute(sql).await.unwrap();
        Ok(())
    })
    .await
    .unwrap();
}

/// A fresh database for one test, dropped with the value.
pub(super) fn fresh_database(hint: &str) -> TestDatabase {
    courier_sim::postgres::server().fresh_database(hint)
}

/// The store configuration of `database`, in the default schema.
pub(super) fn target(database: &TestDatabase) -> PostgresConfig {
    config(&database.url)
}

/// A configuration whose database is never reached (the copy refuses before).
pub(super) fn unreachable_target() -> PostgresConfig {
    config("postgres://postgres@127.0.0.1:1/none?sslmode=disable")
}

fn config(url: &str) -> PostgresConfig {
    PostgresConfig {
        url: Secret::new(url.to_owned()),
        url_env: "COURIER_TEST_DATABASE_URL".into(),
        pool_size: 2,
        schema: crate::config::DEFAULT_SCHEMA.into(),
        ca_file: None,
    }
}
