//! A record source's records in PostgreSQL. Placeholder until the `records` table lands:
//! every call refuses, so a record source on PostgreSQL fails its polls visibly.

use chrono::{DateTime, Utc};

use super::PgStore;
use crate::model::{Container, RecordCommit, Recorded};
use crate::store::traits::{ready, ConnectionState, RecordStore, StoreFuture};
use crate::store::StoreError;

fn refused<'a, T: Send + 'a>() -> StoreFuture<'a, T> {
    ready(Err(StoreError::Database(
        "record sources are not stored in PostgreSQL yet".into(),
    )))
}

impl RecordStore for PgStore {
    fn records<'a>(
        &'a self,
        _connection: &'a str,
        _scope: &'a str,
        _keys: &'a [String],
    ) -> StoreFuture<'a, Vec<Option<Recorded>>> {
        refused()
    }

    fn scan_records<'a>(
        &'a self,
        _connection: &'a str,
        _scope: &'a str,
        _after: Option<&'a str>,
        _limit: usize,
    ) -> StoreFuture<'a, Vec<(String, Recorded)>> {
        refused()
    }

    fn commit_records<'a>(
        &'a self,
        _connection: &'a str,
        _expected: &'a ConnectionState,
        _commit: RecordCommit,
        _now: DateTime<Utc>,
    ) -> StoreFuture<'a, Vec<Container>> {
        refused()
    }
}
