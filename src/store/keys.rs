//! Key layout: `<connection>\0<sequence as 8 big-endian bytes>`, so one connection's
//! containers are contiguous and iterate in sequence order.

/// The key of one container (and of its dead letter).
pub fn container(connection: &str, sequence: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(connection.len() + 9);
    key.extend_from_slice(connection.as_bytes());
    key.push(0);
    key.extend_from_slice(&sequence.to_be_bytes());
    key
}

/// The first key after every container of `connection` (connection ids never contain NUL).
pub fn container_prefix_end(connection: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(connection.len() + 1);
    key.extend_from_slice(connection.as_bytes());
    key.push(1);
    key
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
