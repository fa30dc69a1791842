//! Key layouts. Containers and dead letters: `<connection>\0<sequence as 8 big-endian
//! bytes>`, so one connection's containers are contiguous and iterate in sequence order.
//! Retained (delivered) notifications of stores written before the segment log (read once, to
//! move them into it): `<destination>\0<delivered at, unix ms as 8 big-endian
//! bytes><connection>\0<sequence>`. Ids never contain NUL (see `Checker::id`).

use chrono::DateTime;
#[cfg(test)]
use chrono::Utc;

/// The key of one container (and of its dead letter).
pub fn container(connection: &str, sequence: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(connection.len() + 9);
    key.extend_from_slice(connection.as_bytes());
    key.push(0);
    key.extend_from_slice(&sequence.to_be_bytes());
    key
}

/// The sequence in a container's key; `None` for a key of another layout.
pub fn sequence(key: &[u8]) -> Option<u64> {
    let at = key.len().checked_sub(8)?;
    Some(u64::from_be_bytes(key[at..].try_into().ok()?))
}

/// The connection in a container's key; `None` for a key of another layout.
pub fn connection(key: &[u8]) -> Option<&str> {
    let nul = key.iter().position(|b| *b == 0)?;
    std::str::from_utf8(&key[..nul]).ok()
}

/// The first key after every container of `connection` (connection ids never contain NUL).
pub fn container_prefix_end(connection: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(connection.len() + 1);
    key.extend_from_slice(connection.as_bytes());
    key.push(1);
    key
}

/// Where one destination's retained notifications delivered at or after `at` start.
#[cfg(test)]
pub fn retained_from(destination: &str, at: DateTime<Utc>) -> Vec<u8> {
    let mut key = Vec::with_capacity(destination.len() + 9);
    key.extend_from_slice(destination.as_bytes());
    key.push(0);
    // Times before 1970 sort as 0: nothing is delivered then.
    key.extend_from_slice(
        &u64::try_from(at.timestamp_millis())
            .unwrap_or(0)
            .to_be_bytes(),
    );
    key
}

/// The key of a notification delivered to `destination` at `at`.
#[cfg(test)]
pub fn retained(destination: &str, at: DateTime<Utc>, connection: &str, sequence: u64) -> Vec<u8> {
    let mut key = retained_from(destination, at);
    key.extend_from_slice(&container(connection, sequence));
    key
}

/// The first key after every retained notification of `destination`.
#[cfg(test)]
pub fn retained_end(destination: &str) -> Vec<u8> {
    container_prefix_end(destination)
}

use crate::store::RetainedKey;

/// Reads a retained notification's key back; `None` for a key of another layout.
pub fn parse_retained(key: &[u8]) -> Option<RetainedKey> {
    let nul = key.iter().position(|b| *b == 0)?;
    let destination = std::str::from_utf8(&key[..nul]).ok()?.to_owned();
    let millis = u64::from_be_bytes(key.get(nul + 1..nul + 9)?.try_into().ok()?);
    let rest = &key[nul + 9..];
    let conn_nul = rest.iter().position(|b| *b == 0)?;
    let connection = std::str::from_utf8(&rest[..conn_nul]).ok()?.to_owned();
    let sequence = u64::from_be_bytes(rest.get(conn_nul + 1..)?.try_into().ok()?);
    Some(RetainedKey {
        destination,
        delivered_at: DateTime::from_timestamp_millis(i64::try_from(millis).ok()?)?,
        connection,
        sequence,
    })
}

/// A key as a person reads it: `clinic-a/17` for a container, the id for a connection.
pub fn describe(key: &[u8]) -> String {
    match key.iter().position(|b| *b == 0) {
        Some(nul) if key.len() == nul + 9 => {
            let mut sequence = [0u8; 8];
            sequence.copy_from_slice(&key[nul + 1..]);
            format!(
                "{}/{}",
                String::from_utf8_lossy(&key[..nul]),
                u64::from_be_bytes(sequence)
            )
        }
        _ => String::from_utf8_lossy(key).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_keys_read_as_connection_and_sequence() {
        assert_eq!(describe(&container("clinic-a", 17)), "clinic-a/17");
        assert_eq!(describe(b"clinic-a"), "clinic-a");
        assert_eq!(sequence(&container("clinic-a", 17)), Some(17));
        assert_eq!(connection(&container("clinic-a", 17)), Some("clinic-a"));
    }

    #[test]
    fn retained_keys_read_back_and_order_by_destination_then_delivery_time() {
        let at: DateTime<Utc> = "2026-11-26T10:00:00.123Z".parse().unwrap();
        let later = at + chrono::Duration::milliseconds(1);
        let key = retained("app", at, "clinic-a", 17);
        assert_eq!(
            parse_retained(&key),
            Some(RetainedKey {
                destination: "app".into(),
                delivered_at: at,
                connection: "clinic-a".into(),
                sequence: 17,
            })
        );
        assert!(retained_from("app", at) <= key && key < retained_from("app", later));
        // Time orders before connection and sequence: a time range is one contiguous scan.
        assert!(retained("app", at, "zz", u64::MAX) < retained("app", later, "a", 0));
        assert!(retained("app", later, "z", 9) < retained_end("app"));
        assert!(retained_end("app") <= retained_from("app2", at));
        assert_eq!(parse_retained(b"app"), None);
    }

    #[test]
    fn keys_order_by_sequence_numerically_and_stay_within_the_connection() {
        assert!(container("a", 2) < container("a", 10));
        assert!(container("a", u64::MAX) < container_prefix_end("a"));
        assert!(
            container_prefix_end("a") <= container("ab", 0),
            "another connection starts after"
        );
    }
}
