//! The `members` rows: one per instance, with a heartbeat. Every time is the database's
//! (`now()`), never an instance's own clock: the instances' clocks may differ, the database
//! has one. A member is live while its heartbeat is younger than the lease.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use super::board::MemberView;
use super::sql::{lease_ms, micros, time_of};
use crate::store::postgres::db::db_error;
use crate::store::postgres::Db;
use crate::store::StoreError;

/// One registered instance, as its row says.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// Its name (`courier run --instance`).
    pub instance: String,
    /// When it registered.
    pub started_at: DateTime<Utc>,
    /// Its last heartbeat.
    pub heartbeat_at: DateTime<Utc>,
    /// Whether that heartbeat is within the lease of the database's now.
    pub live: bool,
    /// The hash of its configuration ([`super::config_hash`]).
    pub config_hash: String,
    /// Its admin API's URL, when it serves one.
    pub admin_url: Option<String>,
}

impl Member {
    /// How `/status` shows it, beside this instance's configuration hash `mine`.
    pub fn view(&self, mine: &str) -> MemberView {
        MemberView {
            instance: self.instance.clone(),
            started_at: self.started_at,
            heartbeat_at: self.heartbeat_at,
            live: self.live,
            config_hash: self.config_hash.clone(),
            same_config: self.config_hash == mine,
            admin_url: self.admin_url.clone(),
        }
    }
}

/// Why an instance could not join the cluster.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    /// Another live instance registered under the same name: leases are held by name, so two
    /// instances of one name would write each other's connections.
    #[error(
        "another live instance is registered as {instance:?} (its heartbeat is {age_secs:.1} s \
         old): give this one another --instance name, or wait {lease_secs} s if that one was \
         just stopped"
    )]
    NameTaken {
        /// The name.
        instance: String,
        /// How old the other instance's heartbeat is.
        age_secs: f64,
        /// The lease, after which a silent instance's name is free again.
        lease_secs: u64,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// This instance's membership: its row, and what it needs to keep it.
#[derive(Clone)]
pub struct Membership {
    db: Db,
    instance: Arc<str>,
    lease: Duration,
    /// When this instance registered (microseconds since the epoch, by the database's
    /// clock): with the name, the identity of its row, so a later instance of the same name
    /// is never mistaken for this one.
    started_micros: i64,
}

impl Membership {
    /// Registers `instance` (upserting its row with `config_hash` and `admin_url`), unless a
    /// live instance holds that name already.
    pub async fn join(
        db: &Db,
        instance: &str,
        lease: Duration,
        config_hash: &str,
        admin_url: Option<&str>,
    ) -> Result<Self, JoinError> {
        let (name, hash) = (instance.to_owned(), config_hash.to_owned());
        let url = admin_url.map(str::to_owned);
        let ms = lease_ms(lease);
        let registered = db
            .run(move |pool| async move {
                let client = pool.get().await.map_err(|e| db_error("joining", e))?;
                // One statement: an insert, or a takeover of the row of a silent instance of
                // that name; a live one's row is left alone and nothing is returned.
                let sql = format!(
                    "INSERT INTO members (instance, started_at, heartbeat_at, config_hash, admin_url) \
                     VALUES ($1, now(), now(), $2, $3) \
                     ON CONFLICT (instance) DO UPDATE SET started_at = now(), heartbeat_at = now(), \
                         config_hash = EXCLUDED.config_hash, admin_url = EXCLUDED.admin_url \
                     WHERE members.heartbeat_at <= now() - $4::bigint * interval '1 millisecond' \
                     RETURNING {}",
                    micros("started_at")
                );
                let row = client
                    .query_opt(&sql, &[&name, &hash, &url, &ms])
                    .await
                    .map_err(|e| db_error("registering this instance", e))?;
                if let Some(row) = row {
                    return Ok(Ok(row.get::<_, i64>(0)));
                }
                let age = client
                    .query_one(
                        "SELECT extract(epoch FROM now() - heartbeat_at)::float8 \
                         FROM members WHERE instance = $1",
                        &[&name],
                    )
                    .await
                    .map_err(|e| db_error("reading the members", e))?;
                Ok(Err(age.get::<_, f64>(0)))
            })
            .await?;
        match registered {
            Ok(started_micros) => Ok(Self {
                db: db.clone(),
                instance: instance.into(),
                lease,
                started_micros,
            }),
            Err(age_secs) => Err(JoinError::NameTaken {
                instance: instance.to_owned(),
                age_secs,
                lease_secs: lease.as_secs(),
            }),
        }
    }

    /// This instance's name.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Moves this instance's heartbeat to now, with the hash of the configuration it runs
    /// now (a reload changes it); `false` when its row is no longer its own (removed, or
    /// taken by a later instance of the same name after this one fell silent).
    pub async fn heartbeat(&self, config_hash: &str) -> Result<bool, StoreError> {
        let (name, started) = (self.instance.to_string(), self.started_micros);
        let hash = config_hash.to_owned();
        self.db
            .run(move |pool| async move {
                let client = pool.get().await.map_err(|e| db_error("heartbeat", e))?;
                let sql = format!(
                    "UPDATE members SET heartbeat_at = now(), config_hash = $3 \
                     WHERE instance = $1 AND {} = $2",
                    micros("started_at")
                );
                let updated = client
                    .execute(&sql, &[&name, &started, &hash])
                    .await
                    .map_err(|e| db_error("heartbeat", e))?;
                Ok(updated == 1)
            })
            .await
    }

    /// Every registered instance, in name order, with whether it is live.
    pub async fn read(&self) -> Result<Vec<Member>, StoreError> {
        let ms = lease_ms(self.lease);
        self.db
            .run(move |pool| async move {
                let client = pool
                    .get()
                    .await
                    .map_err(|e| db_error("reading members", e))?;
                let sql = format!(
                    "SELECT instance, {}, {}, \
                         heartbeat_at > now() - $1::bigint * interval '1 millisecond', \
                         config_hash, admin_url \
                     FROM members ORDER BY instance",
                    micros("started_at"),
                    micros("heartbeat_at")
                );
                let rows = client
                    .query(&sql, &[&ms])
                    .await
                    .map_err(|e| db_error("reading members", e))?;
                Ok(rows.iter().map(member).collect())
            })
            .await
    }

    /// Removes this instance's row (a stop that handed its leases back): the others stop
    /// counting it at once.
    pub async fn leave(&self) -> Result<(), StoreError> {
        let (name, started) = (self.instance.to_string(), self.started_micros);
        self.db
            .run(move |pool| async move {
                let client = pool.get().await.map_err(|e| db_error("leaving", e))?;
                let sql = format!(
                    "DELETE FROM members WHERE instance = $1 AND {} = $2",
                    micros("started_at")
                );
                client
                    .execute(&sql, &[&name, &started])
                    .await
                    .map_err(|e| db_error("leaving the cluster", e))?;
                Ok(())
            })
            .await
    }
}

fn member(row: &Row) -> Member {
    Member {
        instance: row.get(0),
        started_at: time_of(row.get(1)),
        heartbeat_at: time_of(row.get(2)),
        live: row.get(3),
        config_hash: row.get(4),
        admin_url: row.get(5),
    }
}
