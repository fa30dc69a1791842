//! The statements under test, one text for both drivers: the store's fence check, the page
//! commit's state lock, pending inserts and state upsert, and the completion's delete and
//! retained inserts.

/// The fencing check of `fence.rs::check`, inside the writing transaction.
pub const FENCE: &str = "SELECT 1 FROM leases WHERE connection = $1 AND owner = $2 \
                         AND epoch = $3 AND expires_at > now() FOR SHARE";

/// Locks the connection's state row and reads the next sequence.
pub const LOCK_STATE: &str =
    "SELECT cursor, next_sequence FROM connection_state WHERE connection = $1 FOR UPDATE";

/// A page's containers in one statement.
pub const PENDING_UNNEST: &str =
    "INSERT INTO pending (connection, sequence, notification_id, detected_at, container) \
     SELECT $1, s, n, d, c \
     FROM UNNEST($2::bigint[], $3::text[], $4::timestamptz[], $5::bytea[]) AS u(s, n, d, c)";

/// One container.
pub const PENDING_ROW: &str =
    "INSERT INTO pending (connection, sequence, notification_id, detected_at, container) \
     VALUES ($1, $2, $3, $4, $5)";

/// The page's new cursor and next sequence.
pub const UPSERT_STATE: &str =
    "INSERT INTO connection_state (connection, cursor, next_sequence) VALUES ($1, $2, $3) \
     ON CONFLICT (connection) DO UPDATE \
     SET cursor = EXCLUDED.cursor, next_sequence = EXCLUDED.next_sequence";

/// Removes the delivered containers.
pub const DELETE_PENDING: &str = "DELETE FROM pending WHERE connection = $1 AND sequence = ANY($2)";

/// A completion's retained notifications in one statement.
pub const RETAINED_UNNEST: &str = "INSERT INTO retained \
     (destination, delivered_at, connection, sequence, notification_id, key, body) \
     SELECT $1, d, $2, s, n, k, b \
     FROM UNNEST($3::timestamptz[], $4::bigint[], $5::text[], $6::text[], $7::bytea[]) \
     AS u(d, s, n, k, b)";

/// One retained notification.
pub const RETAINED_ROW: &str = "INSERT INTO retained \
     (destination, delivered_at, connection, sequence, notification_id, key, body) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";
