//! A record source's records in the sled backend: one tree, keyed
//! `<connection>\0<scope>\0<key>`, written in the transaction of the page's containers.

use chrono::{DateTime, Utc};

use super::fhir::{key, Extra, ExtraTree};
use super::{decode, encode, ready, SledStore};
use crate::model::{Container, RecordCommit, Recorded};
use crate::store::containers;
use crate::store::traits::{ConnectionState, RecordStore, StoreFuture};
use crate::store::StoreError;

impl RecordStore for SledStore {
    fn records<'a>(
        &'a self,
        connection: &'a str,
        scope: &'a str,
        keys: &'a [String],
    ) -> StoreFuture<'a, Vec<Option<Recorded>>> {
        let found = keys
            .iter()
            .map(|id| {
                let what = || format!("{connection}/{scope}/{id}");
                self.read_record(|engine| &engine.records, &key(connection, scope, id), what)
            })
            .collect();
        ready(found)
    }

    fn scan_records<'a>(
        &'a self,
        connection: &'a str,
        scope: &'a str,
        after: Option<&'a str>,
        limit: usize,
    ) -> StoreFuture<'a, Vec<(String, Recorded)>> {
        ready(self.scan(connection, scope, after, limit))
    }

    fn commit_records<'a>(
        &'a self,
        connection: &'a str,
        expected: &'a ConnectionState,
        commit: RecordCommit,
        now: DateTime<Utc>,
    ) -> StoreFuture<'a, Vec<Container>> {
        let first = expected.next_sequence;
        let containers = containers::of_record_changes(connection, first, commit.changes, now);
        let extra = commit
            .records
            .iter()
            .map(|(id, record)| Extra {
                tree: ExtraTree::Records,
                key: key(connection, &commit.scope, id),
                value: record.as_ref().map(encode),
            })
            .collect();
        let cursor = commit.cursor.unwrap_or_else(|| expected.cursor.clone());
        Box::pin(self.commit_containers(connection, expected, containers, cursor, extra))
    }
}

impl SledStore {
    /// One page of [`RecordStore::scan_records`]: the scope's prefix, from just after `after`.
    fn scan(
        &self,
        connection: &str,
        scope: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Recorded)>, StoreError> {
        let engine = self.engine()?;
        let prefix = key(connection, scope, "");
        let start = match after {
            // The smallest key after `after`: itself followed by a NUL byte.
            Some(after) => [key(connection, scope, after), vec![0]].concat(),
            None => prefix.clone(),
        };
        let mut page = Vec::new();
        for entry in engine.records.range(start..).take(limit) {
            let (stored_key, bytes) = entry?;
            let Some(id) = stored_key.strip_prefix(prefix.as_slice()) else {
                break;
            };
            let id = String::from_utf8_lossy(id).into_owned();
            let record = decode(&format!("{connection}/{scope}/{id}"), &bytes)?;
            page.push((id, record));
        }
        Ok(page)
    }
}
