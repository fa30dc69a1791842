//! The rows of each PostgreSQL table as column arrays, one batch at a time, for one
//! `INSERT … SELECT * FROM UNNEST(…)` per batch. Encoding as the schema says
//! (`postgres::migrations`): a value read back whole is `serde_json` of its model type, the
//! columns beside it only what a statement selects or orders on; a retained body is the bytes
//! as delivered; a sequence is a `bigint`.

use chrono::{DateTime, Utc};
use tokio_postgres::types::ToSql;

use crate::model::{Container, DeadLetter};
use crate::store::codec::encode;
use crate::store::sled::export::{FhirCursorRecord, SeenRecord, StoredRecord};
use crate::store::traits::ConnectionState;
use crate::store::{Retained, StoreError};

/// A batch of one table's rows.
pub(super) trait Rows: Default + Send + Sync {
    /// What one row is made of.
    type Record;
    /// The table, for the summary and for messages.
    const TABLE: &'static str;
    /// The statement inserting a batch, one array parameter per column.
    const INSERT: &'static str;

    /// Adds `record`'s row; an error when a value does not fit its column.
    fn push(&mut self, record: Self::Record) -> Result<(), StoreError>;

    /// Rows in the batch.
    fn len(&self) -> usize;

    /// The column arrays, in the order of [`Rows::INSERT`]'s parameters.
    fn columns(&self) -> Vec<&(dyn ToSql + Sync)>;
}

/// A `u64` sequence as the `bigint` column holds it; `what` names the record in the error.
fn bigint(what: impl FnOnce() -> String, sequence: u64) -> Result<i64, StoreError> {
    i64::try_from(sequence).map_err(|_| StoreError::Corrupt {
        key: what(),
        reason: format!("sequence {sequence} is beyond PostgreSQL's bigint"),
    })
}

/// Rows of `connection_state`.
#[derive(Default)]
pub(super) struct ConnectionRows {
    connection: Vec<String>,
    cursor: Vec<Vec<u8>>,
    next_sequence: Vec<i64>,
}

impl Rows for ConnectionRows {
    type Record = (String, ConnectionState);
    const TABLE: &'static str = "connection_state";
    const INSERT: &'static str =
        "INSERT INTO connection_state (connection, cursor, next_sequence) \
         SELECT * FROM UNNEST($1::text[], $2::bytea[], $3::bigint[])";

    fn push(&mut self, (connection, state): Self::Record) -> Result<(), StoreError> {
        let next = bigint(|| connection.clone(), state.next_sequence)?;
        self.cursor.push(encode(&state.cursor));
        self.next_sequence.push(next);
        self.connection.push(connection);
        Ok(())
    }

    fn len(&self) -> usize {
        self.connection.len()
    }

    fn columns(&self) -> Vec<&(dyn ToSql + Sync)> {
        vec![&self.connection, &self.cursor, &self.next_sequence]
    }
}

/// Rows of `pending`.
#[derive(Default)]
pub(super) struct PendingRows {
    connection: Vec<String>,
    sequence: Vec<i64>,
    notification_id: Vec<String>,
    detected_at: Vec<DateTime<Utc>>,
    container: Vec<Vec<u8>>,
}

impl Rows for PendingRows {
    type Record = Container;
    const TABLE: &'static str = "pending";
    const INSERT: &'static str =
        "INSERT INTO pending (connection, sequence, notification_id, detected_at, container) \
         SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::timestamptz[], \
         $5::bytea[])";

    fn push(&mut self, container: Container) -> Result<(), StoreError> {
        let what = || format!("{}/{}", container.connection, container.sequence);
        self.sequence.push(bigint(what, container.sequence)?);
        self.container.push(encode(&container));
        self.detected_at.push(container.detected_at);
        self.notification_id.push(container.notification_id);
        self.connection.push(container.connection);
        Ok(())
    }

    fn len(&self) -> usize {
        self.connection.len()
    }

    fn columns(&self) -> Vec<&(dyn ToSql + Sync)> {
        vec![
            &self.connection,
            &self.sequence,
            &self.notification_id,
            &self.detected_at,
            &self.container,
        ]
    }
}

/// Rows of `dead_letters`, each with the container a retry sends back (NULL where the sled
/// store kept none: the retry rebuilds it from the letter's standard body, as sled's does).
#[derive(Default)]
pub(super) struct DeadLetterRows {
    connection: Vec<String>,
    sequence: Vec<i64>,
    notification_id: Vec<String>,
    destination: Vec<String>,
    dead_at: Vec<DateTime<Utc>>,
    letter: Vec<Vec<u8>>,
    container: Vec<Option<Vec<u8>>>,
}

impl Rows for DeadLetterRows {
    type Record = (DeadLetter, Option<Container>);
    const TABLE: &'static str = "dead_letters";
    const INSERT: &'static str = "INSERT INTO dead_letters \
         (connection, sequence, notification_id, destination, dead_at, letter, container) \
         SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::text[], \
         $5::timestamptz[], $6::bytea[], $7::bytea[])";

    fn push(&mut self, (letter, container): Self::Record) -> Result<(), StoreError> {
        let what = || format!("{}/{}", letter.connection, letter.sequence);
        self.sequence.push(bigint(what, letter.sequence)?);
        self.letter.push(encode(&letter));
        self.container.push(container.as_ref().map(encode));
        self.dead_at.push(letter.dead_at);
        self.destination.push(letter.destination);
        self.notification_id.push(letter.notification_id);
        self.connection.push(letter.connection);
        Ok(())
    }

    fn len(&self) -> usize {
        self.connection.len()
    }

    fn columns(&self) -> Vec<&(dyn ToSql + Sync)> {
        vec![
            &self.connection,
            &self.sequence,
            &self.notification_id,
            &self.destination,
            &self.dead_at,
            &self.letter,
            &self.container,
        ]
    }
}

/// A record of a table keyed by three text columns with one encoded value beside them
/// (`fhir_cursors`, `fhir_seen`, `records`): one row type serves them all.
pub(super) trait KeyedValue {
    /// The table.
    const TABLE: &'static str;
    /// Its batch insert, the three keys then the value.
    const INSERT: &'static str;

    /// The record's three keys, in the insert's order, and its encoded value.
    fn into_row(self) -> ([String; 3], Vec<u8>);
}

/// Rows of a [`KeyedValue`] table.
pub(super) struct KeyedRows<R> {
    keys: [Vec<String>; 3],
    value: Vec<Vec<u8>>,
    record: std::marker::PhantomData<fn() -> R>,
}

impl<R> Default for KeyedRows<R> {
    fn default() -> Self {
        Self {
            keys: Default::default(),
            value: Vec::new(),
            record: std::marker::PhantomData,
        }
    }
}

impl<R: KeyedValue> Rows for KeyedRows<R> {
    type Record = R;
    const TABLE: &'static str = R::TABLE;
    const INSERT: &'static str = R::INSERT;

    fn push(&mut self, record: R) -> Result<(), StoreError> {
        let (keys, value) = record.into_row();
        for (column, key) in self.keys.iter_mut().zip(keys) {
            column.push(key);
        }
        self.value.push(value);
        Ok(())
    }

    fn len(&self) -> usize {
        self.value.len()
    }

    fn columns(&self) -> Vec<&(dyn ToSql + Sync)> {
        let [first, second, third] = &self.keys;
        vec![first, second, third, &self.value]
    }
}

/// Rows of `fhir_cursors`.
pub(super) type FhirCursorRows = KeyedRows<FhirCursorRecord>;

impl KeyedValue for FhirCursorRecord {
    const TABLE: &'static str = "fhir_cursors";
    const INSERT: &'static str = "INSERT INTO fhir_cursors (connection, type_name, track, cursor) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bytea[])";

    fn into_row(self) -> ([String; 3], Vec<u8>) {
        let value = encode(&self.cursor);
        ([self.connection, self.type_name, self.track], value)
    }
}

/// Rows of `fhir_seen`.
pub(super) type SeenRows = KeyedRows<SeenRecord>;

impl KeyedValue for SeenRecord {
    const TABLE: &'static str = "fhir_seen";
    const INSERT: &'static str = "INSERT INTO fhir_seen (connection, type_name, id, seen) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bytea[])";

    fn into_row(self) -> ([String; 3], Vec<u8>) {
        let value = encode(&self.seen);
        ([self.connection, self.type_name, self.id], value)
    }
}

/// Rows of `records`.
pub(super) type RecordRows = KeyedRows<StoredRecord>;

impl KeyedValue for StoredRecord {
    const TABLE: &'static str = "records";
    const INSERT: &'static str = "INSERT INTO records (connection, scope, key, record) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bytea[])";

    fn into_row(self) -> ([String; 3], Vec<u8>) {
        let value = encode(&self.record);
        ([self.connection, self.scope, self.key], value)
    }
}

/// Rows of `retained`. A record the segment log holds twice (a move of an older store's
/// records interrupted and done again) is inserted once: same destination, delivery time,
/// connection and sequence is the same delivery.
#[derive(Default)]
pub(super) struct RetainedRows {
    destination: Vec<String>,
    delivered_at: Vec<DateTime<Utc>>,
    connection: Vec<String>,
    sequence: Vec<i64>,
    notification_id: Vec<String>,
    key: Vec<String>,
    body: Vec<Vec<u8>>,
}

impl Rows for RetainedRows {
    type Record = Retained;
    const TABLE: &'static str = "retained";
    const INSERT: &'static str = "INSERT INTO retained \
         (destination, delivered_at, connection, sequence, notification_id, key, body) \
         SELECT * FROM UNNEST($1::text[], $2::timestamptz[], $3::text[], $4::bigint[], \
         $5::text[], $6::text[], $7::bytea[]) ON CONFLICT DO NOTHING";

    fn push(&mut self, retained: Retained) -> Result<(), StoreError> {
        let Retained { key, notification } = retained;
        let what = || format!("{}/{}/{}", key.destination, key.connection, key.sequence);
        self.sequence.push(bigint(what, key.sequence)?);
        self.destination.push(key.destination);
        self.delivered_at.push(key.delivered_at);
        self.connection.push(key.connection);
        self.notification_id.push(notification.id);
        self.key.push(notification.key);
        self.body.push(notification.body.to_vec());
        Ok(())
    }

    fn len(&self) -> usize {
        self.destination.len()
    }

    fn columns(&self) -> Vec<&(dyn ToSql + Sync)> {
        vec![
            &self.destination,
            &self.delivered_at,
            &self.connection,
            &self.sequence,
            &self.notification_id,
            &self.key,
            &self.body,
        ]
    }
}
