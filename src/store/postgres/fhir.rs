//! The FHIR records in PostgreSQL: one cursor per connection, resource type and track
//! (`fhir_cursors`), and the last version seen of each resource (`fhir_seen`), written in the
//! transaction of the page's containers (`pages.rs`).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use serde::de::DeserializeOwned;

use super::failure::{fail, Failure};
use super::pages::{FhirRecords, PageWrite};
use super::{decode, encode, PgStore};
use crate::model::{Container, FhirCommit, FhirCursor, Seen, Track};
use crate::store::containers;
use crate::store::traits::{ConnectionState, FhirStore, StoreFuture};

/// Reads one record: `sql` selects a `bytea` by three text parameters.
async fn read_record<T: DeserializeOwned>(
    pool: Pool,
    sql: &'static str,
    key: [String; 3],
) -> Result<Option<T>, Failure> {
    let client = pool.get().await.map_err(fail("connecting"))?;
    let statement = client
        .prepare_cached(sql)
        .await
        .map_err(fail("reading a FHIR record"))?;
    let row = client
        .query_opt(&statement, &[&key[0], &key[1], &key[2]])
        .await
        .map_err(fail("reading a FHIR record"))?;
    let Some(row) = row else {
        return Ok(None);
    };
    Ok(Some(decode(&key.join("/"), row.get::<_, &[u8]>(0))?))
}

/// The versions seen, each resource id once (the last one given wins, as in the sled store),
/// encoded.
fn seen_records(seen: Vec<(String, Seen)>) -> (Vec<String>, Vec<Vec<u8>>) {
    let mut last: HashMap<String, usize> = HashMap::new();
    for (index, (id, _)) in seen.iter().enumerate() {
        last.insert(id.clone(), index);
    }
    seen.into_iter()
        .enumerate()
        .filter(|(index, (id, _))| last.get(id) == Some(index))
        .map(|(_, (id, seen))| (id, encode(&seen)))
        .unzip()
}

impl FhirStore for PgStore {
    fn fhir_cursor<'a>(
        &'a self,
        connection: &'a str,
        type_name: &'a str,
        track: Track,
    ) -> StoreFuture<'a, Option<FhirCursor>> {
        let key = [connection, type_name, track.name()].map(str::to_owned);
        let sql = "SELECT cursor FROM fhir_cursors \
                   WHERE connection = $1 AND type_name = $2 AND track = $3";
        Box::pin(self.run(move |pool| read_record(pool, sql, key.clone())))
    }

    fn fhir_seen<'a>(
        &'a self,
        connection: &'a str,
        type_name: &'a str,
        id: &'a str,
    ) -> StoreFuture<'a, Option<Seen>> {
        let key = [connection, type_name, id].map(str::to_owned);
        let sql = "SELECT seen FROM fhir_seen \
                   WHERE connection = $1 AND type_name = $2 AND id = $3";
        Box::pin(self.run(move |pool| read_record(pool, sql, key.clone())))
    }

    fn commit_fhir<'a>(
        &'a self,
        connection: &'a str,
        expected: &'a ConnectionState,
        commit: FhirCommit,
        now: DateTime<Utc>,
    ) -> StoreFuture<'a, Vec<Container>> {
        Box::pin(async move {
            let fence = self.fences.for_write(connection)?;
            let first = expected.next_sequence;
            let containers: Vec<Container> =
                containers::of_fhir_changes(connection, first, commit.changes, now);
            // The connection's own cursor stays: a FHIR connection moves its types' cursors.
            let mut write =
                PageWrite::new(connection, fence, expected, &containers, &expected.cursor);
            let (seen_ids, seen) = seen_records(commit.seen);
            write.fhir = Some(FhirRecords {
                type_name: commit.type_name,
                track: commit.track.name(),
                cursor: encode(&commit.cursor),
                seen_ids,
                seen,
            });
            self.commit_write(write, containers).await
        })
    }
}
