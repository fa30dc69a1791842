//! What one transaction writes: the connections, the fence that holds them, and the rows of a
//! page (100 pending containers) or of a completion (100 retained bodies), built the same way
//! for both drivers so only the driver differs.

use std::time::SystemTime;

/// Connections in the bench, `conn-0`..`conn-11`, as in issue 14's cluster torture.
pub const CONNECTIONS: usize = 12;
/// Rows per page and per completion batch.
pub const BATCH: i64 = 100;
/// The lease owner every fence check presents.
pub const FENCE_OWNER: &str = "bench-0";
/// The lease epoch every fence check presents.
pub const FENCE_EPOCH: i64 = 1;
/// The destination the retained rows are delivered to.
pub const DESTINATION: &str = "dest-0";

/// The names of all bench connections.
pub fn connection_names() -> Vec<String> {
    (0..CONNECTIONS).map(|i| format!("conn-{i}")).collect()
}

/// The connections task `task` of `tasks` writes: each connection has one writer, as in
/// Courier where one actor owns one connection.
pub fn connections_of(task: usize, tasks: usize) -> Vec<String> {
    (0..CONNECTIONS)
        .filter(|c| c % tasks == task)
        .map(|c| format!("conn-{c}"))
        .collect()
}

/// How the 100 rows of a batch reach the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Insert {
    /// One `INSERT … SELECT … FROM UNNEST($n::type[], …)` statement with array parameters.
    Unnest,
    /// One prepared single-row `INSERT` per row; tokio-postgres pipelines them, sqlx cannot.
    Rows,
}

/// The rows of one batch, column by column (arrays for `UNNEST`, indexable for per-row).
pub struct Rows {
    /// Sequence numbers.
    pub sequences: Vec<i64>,
    /// Notification ids.
    pub ids: Vec<String>,
    /// Detection or delivery times.
    pub times: Vec<SystemTime>,
    /// Retained keys (completion only; empty for a page).
    pub keys: Vec<String>,
    /// Containers (page) or bodies (completion), ~700 bytes of JSON each.
    pub blobs: Vec<Vec<u8>>,
}

/// The cursor a page commit stores, ~150 bytes of JSON.
pub fn cursor(connection: &str, next: i64) -> Vec<u8> {
    format!(
        r#"{{"connection":"{connection}","since":"2026-12-06T14:00:00Z","last_id":"Appointment/{next}","page":{next}}}"#
    )
    .into_bytes()
}

/// A container like the product's (`serde_json` of a changed Appointment), ~700 bytes.
fn container(connection: &str, sequence: i64) -> Vec<u8> {
    format!(
        r#"{{"connection":"{connection}","sequence":{sequence},"detected_at":"2026-12-06T14:00:00Z","change":{{"kind":"updated","resource_type":"Appointment","id":"appt-{sequence:010}","version":"3"}},"resource":{{"resourceType":"Appointment","id":"appt-{sequence:010}","meta":{{"versionId":"3","lastUpdated":"2026-12-06T13:59:58Z"}},"status":"booked","serviceType":[{{"coding":[{{"system":"http://terminology.hl7.org/CodeSystem/service-type","code":"124","display":"General Practice"}}]}}],"start":"2026-12-07T09:00:00Z","end":"2026-12-07T09:20:00Z","minutesDuration":20,"participant":[{{"actor":{{"reference":"Patient/p-{sequence:08}"}},"status":"accepted"}},{{"actor":{{"reference":"Practitioner/dr-0042"}},"status":"accepted"}},{{"actor":{{"reference":"Location/loc-7"}},"status":"accepted"}}],"comment":"bench payload"}}}}"#
    )
    .into_bytes()
}

/// The 100 pending rows of a page starting at sequence `first`.
pub fn page(connection: &str, first: i64) -> Rows {
    let now = SystemTime::now();
    let sequences: Vec<i64> = (first..first + BATCH).collect();
    Rows {
        ids: sequences
            .iter()
            .map(|s| format!("{connection}-{s}"))
            .collect(),
        times: vec![now; sequences.len()],
        keys: Vec::new(),
        blobs: sequences
            .iter()
            .map(|s| container(connection, *s))
            .collect(),
        sequences,
    }
}

/// The 100 retained rows of a completion of sequences `first..first + 100`.
pub fn completion(connection: &str, first: i64) -> Rows {
    let now = SystemTime::now();
    let sequences: Vec<i64> = (first..first + BATCH).collect();
    Rows {
        ids: sequences
            .iter()
            .map(|s| format!("{connection}-{s}"))
            .collect(),
        times: vec![now; sequences.len()],
        keys: sequences
            .iter()
            .map(|s| format!("{DESTINATION}/{connection}-{s}"))
            .collect(),
        blobs: sequences
            .iter()
            .map(|s| container(connection, *s))
            .collect(),
        sequences,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_are_about_700_bytes() {
        let rows = page("conn-11", 123_456);
        assert!(rows.blobs.iter().all(|b| (650..=800).contains(&b.len())));
    }

    #[test]
    fn every_connection_has_exactly_one_writer() {
        for tasks in [1, 4] {
            let mut all: Vec<String> = (0..tasks).flat_map(|t| connections_of(t, tasks)).collect();
            all.sort();
            let mut expected = connection_names();
            expected.sort();
            assert_eq!(all, expected);
        }
    }
}
