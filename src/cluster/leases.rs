//! The `leases` rows: who owns each connection (owner, epoch, expiry). Plain rows and plain
//! statements, no advisory locks and no LISTEN/NOTIFY: read committed with row locks is all
//! they need. A takeover's `UPDATE` of a row waits for any in-flight write of that
//! connection, which holds the row `FOR SHARE` (the fencing check, `store::postgres::fence`),
//! and bumps the epoch, so that write commits before the takeover or is refused after it.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_postgres::error::SqlState;

use super::board::LeaseView;
use super::sql::{lease_ms, micros, time_of};
use crate::store::postgres::db::db_error;
use crate::store::postgres::{Db, Fence};
use crate::store::StoreError;

/// One connection's lease row.
#[derive(Debug, Clone, PartialEq)]
pub struct Lease {
    /// The connection.
    pub connection: String,
    /// The instance holding it; `None` once handed back (or never taken).
    pub owner: Option<String>,
    /// Bumped by every acquisition: the fencing token.
    pub epoch: i64,
    /// When it lapses unless renewed.
    pub expires_at: DateTime<Utc>,
    /// Whether it lapsed already, by the database's clock: anyone may take it.
    pub expired: bool,
    /// Bumped by every retry of the connection's dead letters, from any instance: the owner
    /// walks the connection's pending containers again when it grows.
    pub redispatch: i64,
}

impl Lease {
    /// The instance that holds the lease now: its owner, unless it lapsed.
    pub fn holder(&self) -> Option<&str> {
        self.owner.as_deref().filter(|_| !self.expired)
    }

    /// How `/status` shows it: a lapsed lease has no owner.
    pub fn view(&self) -> LeaseView {
        LeaseView {
            connection: self.connection.clone(),
            owner: self.holder().map(str::to_owned),
            epoch: self.epoch,
            expires_at: self.expires_at,
        }
    }
}

/// A lease this instance just took.
#[derive(Debug, Clone, PartialEq)]
pub struct Acquired {
    /// The fence writes of the connection carry from now on.
    pub fence: Fence,
    /// The instance whose lapsed lease this was (a takeover); `None` for a free lease.
    pub from: Option<String>,
    /// The lease's dead-letter retry counter at the time.
    pub redispatch: i64,
}

/// A held lease the renewal extended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renewed {
    /// The connection.
    pub connection: String,
    /// Its dead-letter retry counter.
    pub redispatch: i64,
}

/// The lease statements of one instance.
#[derive(Clone)]
pub struct Leases {
    db: Db,
    instance: Arc<str>,
    lease: Duration,
}

impl Leases {
    /// The statements of `instance`, whose leases last `lease`.
    pub fn new(db: Db, instance: &str, lease: Duration) -> Self {
        Self {
            db,
            instance: instance.into(),
            lease,
        }
    }

    /// Makes sure every connection of `connections` has a lease row (free, epoch 0); rows
    /// that exist are left as they are.
    pub async fn ensure(&self, connections: &[String]) -> Result<(), StoreError> {
        let connections = connections.to_vec();
        self.db
            .run(move |pool| async move {
                let client = pool.get().await.map_err(|e| db_error("lease rows", e))?;
                client
                    .execute(
                        "INSERT INTO leases (connection, owner, epoch, expires_at) \
                         SELECT c, NULL, 0, now() FROM unnest($1::text[]) AS c \
                         ON CONFLICT (connection) DO NOTHING",
                        &[&connections],
                    )
                    .await
                    .map_err(|e| db_error("creating lease rows", e))?;
                Ok(())
            })
            .await
    }

    /// Takes `connection`'s lease if it is free or lapsed, bumping its epoch; `None` when
    /// another instance holds it (or won the race for it).
    pub async fn acquire(&self, connection: &str) -> Result<Option<Acquired>, StoreError> {
        let (me, connection) = (Arc::clone(&self.instance), connection.to_owned());
        let ms = lease_ms(self.lease);
        self.db
            .run(move |pool| async move {
                let mut client = pool.get().await.map_err(|e| db_error("acquiring", e))?;
                let tx = client
                    .transaction()
                    .await
                    .map_err(|e| db_error("acquiring a lease", e))?;
                // FOR UPDATE waits for an in-flight write's FOR SHARE fencing check, and for
                // another instance's acquisition, whose bumped epoch it then reads; but not
                // longer than a tick: a lease whose row stays locked is not free now.
                tx.batch_execute(&format!("SET LOCAL lock_timeout = {}", ms / 3))
                    .await
                    .map_err(|e| db_error("acquiring a lease", e))?;
                let row = tx
                    .query_opt(
                        "SELECT owner, expires_at <= now() OR owner IS NULL \
                         FROM leases WHERE connection = $1 FOR UPDATE",
                        &[&connection],
                    )
                    .await;
                let row = match row {
                    Err(e) if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) => return Ok(None),
                    row => row.map_err(|e| db_error("reading a lease", e))?,
                };
                let Some(row) = row else { return Ok(None) };
                let (from, free): (Option<String>, bool) = (row.get(0), row.get(1));
                if !free {
                    return Ok(None);
                }
                let taken = tx
                    .query_one(
                        "UPDATE leases SET owner = $2, epoch = epoch + 1, \
                             expires_at = now() + $3::bigint * interval '1 millisecond' \
                         WHERE connection = $1 RETURNING epoch, redispatch",
                        &[&connection, &&*me, &ms],
                    )
                    .await
                    .map_err(|e| db_error("taking a lease", e))?;
                tx.commit()
                    .await
                    .map_err(|e| db_error("taking a lease", e))?;
                Ok(Some(Acquired {
                    fence: Fence {
                        owner: me,
                        epoch: taken.get(0),
                    },
                    from,
                    redispatch: taken.get(1),
                }))
            })
            .await
    }

    /// Renews every lease of `held` (connection and epoch) in one statement; answers those
    /// renewed. A held lease not answered is lost: it lapsed, or another instance took it.
    pub async fn renew(&self, held: &[(String, i64)]) -> Result<Vec<Renewed>, StoreError> {
        let me = self.instance.to_string();
        let (connections, epochs): (Vec<String>, Vec<i64>) = held.iter().cloned().unzip();
        let ms = lease_ms(self.lease);
        self.db
            .run(move |pool| async move {
                let client = pool.get().await.map_err(|e| db_error("renewing", e))?;
                let rows = client
                    .query(
                        "UPDATE leases SET expires_at = now() + $4::bigint * interval '1 millisecond' \
                         FROM unnest($2::text[], $3::bigint[]) AS held(connection, epoch) \
                         WHERE leases.connection = held.connection AND leases.epoch = held.epoch \
                             AND leases.owner = $1 AND leases.expires_at > now() \
                         RETURNING leases.connection, leases.redispatch",
                        &[&me, &connections, &epochs, &ms],
                    )
                    .await
                    .map_err(|e| db_error("renewing the leases", e))?;
                Ok(rows
                    .iter()
                    .map(|row| Renewed {
                        connection: row.get(0),
                        redispatch: row.get(1),
                    })
                    .collect())
            })
            .await
    }

    /// Hands back the leases of `held` (connection and epoch): free at once for the others.
    /// A lease this instance no longer holds under that epoch is left alone.
    pub async fn release(&self, held: &[(String, i64)]) -> Result<u64, StoreError> {
        let me = self.instance.to_string();
        let (connections, epochs): (Vec<String>, Vec<i64>) = held.iter().cloned().unzip();
        self.db
            .run(move |pool| async move {
                let client = pool.get().await.map_err(|e| db_error("releasing", e))?;
                client
                    .execute(
                        "UPDATE leases SET owner = NULL, expires_at = now() \
                         FROM unnest($2::text[], $3::bigint[]) AS held(connection, epoch) \
                         WHERE leases.connection = held.connection \
                             AND leases.epoch = held.epoch AND leases.owner = $1",
                        &[&me, &connections, &epochs],
                    )
                    .await
                    .map_err(|e| db_error("handing leases back", e))
            })
            .await
    }

    /// Every lease row, in connection order.
    pub async fn read(&self) -> Result<Vec<Lease>, StoreError> {
        self.db
            .run(move |pool| async move {
                let client = pool
                    .get()
                    .await
                    .map_err(|e| db_error("reading leases", e))?;
                let sql = format!(
                    "SELECT connection, owner, epoch, {}, expires_at <= now(), redispatch \
                     FROM leases ORDER BY connection",
                    micros("expires_at")
                );
                let rows = client
                    .query(&sql, &[])
                    .await
                    .map_err(|e| db_error("reading leases", e))?;
                Ok(rows
                    .iter()
                    .map(|row| Lease {
                        connection: row.get(0),
                        owner: row.get(1),
                        epoch: row.get(2),
                        expires_at: time_of(row.get(3)),
                        expired: row.get(4),
                        redispatch: row.get(5),
                    })
                    .collect())
            })
            .await
    }
}
