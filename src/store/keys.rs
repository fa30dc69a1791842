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
