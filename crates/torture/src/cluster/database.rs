//! The cluster torture's own PostgreSQL: a throwaway cluster under the run's directory, so
//! stopping and restarting it mid-run never touches the machine's server; and the audit of
//! what the shared store holds once the instances are stopped, read with `psql`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use courier_sim::postgres::{free_port, psql, ThrowawayCluster};
use courier_sim::Problems;

/// The database the instances share.
const DATABASE: &str = "courier_torture";
/// The schema the torture's configuration names.
const SCHEMA: &str = "courier";

/// The running throwaway cluster and the database in it.
#[derive(Clone)]
pub struct Database {
    cluster: Arc<ThrowawayCluster>,
    url: String,
}

impl Database {
    /// Initialises a cluster in `dir` on a free port, starts it and creates the database.
    pub fn start(dir: &Path) -> Result<Self, String> {
        let port = free_port().map_err(|e| format!("a port for PostgreSQL: {e}"))?;
        let cluster = ThrowawayCluster::init(dir, port)
            .map_err(|e| format!("initialising PostgreSQL in {}: {e}", dir.display()))?;
        cluster
            .start()
            .map_err(|e| format!("starting PostgreSQL: {e}"))?;
        cluster
            .create_database(DATABASE)
            .map_err(|e| format!("creating the database: {e}"))?;
        let url = cluster.url(DATABASE);
        Ok(Self {
            cluster: Arc::new(cluster),
            url,
        })
    }

    /// The connection string the instances get.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Stops the server (fast shutdown: sessions are cut, commits kept), keeps it down for
    /// `down`, and starts it again. `pg_ctl` blocks, so it runs off the torture's thread,
    /// whose simulated EHRs and receiver must keep answering.
    pub async fn restart(&self, down: Duration) -> Result<(), String> {
        let cluster = Arc::clone(&self.cluster);
        actix_rt::task::spawn_blocking(move || cluster.stop())
            .await
            .map_err(|e| format!("stopping PostgreSQL: {e}"))?
            .map_err(|e| format!("stopping PostgreSQL: {e}"))?;
        actix_rt::time::sleep(down).await;
        let cluster = Arc::clone(&self.cluster);
        actix_rt::task::spawn_blocking(move || cluster.start())
            .await
            .map_err(|e| format!("starting PostgreSQL: {e}"))?
            .map_err(|e| format!("starting PostgreSQL: {e}"))
    }

    /// What the store holds, checked against `changes` (each connection's change count).
    pub fn audit(&self, changes: &[(String, u64)]) -> Result<StoreAudit, String> {
        let counts = self.query(&format!(
            "SELECT (SELECT count(*) FROM {SCHEMA}.pending), \
                    (SELECT count(*) FROM {SCHEMA}.dead_letters), \
                    (SELECT count(*) FROM {SCHEMA}.retained), \
                    (SELECT count(*) FROM (SELECT 1 FROM {SCHEMA}.retained \
                        GROUP BY connection, sequence \
                        HAVING count(DISTINCT notification_id) > 1) AS shared)"
        ))?;
        let number = |column: usize| -> u64 {
            counts
                .first()
                .and_then(|row| row.get(column))
                .and_then(|value| value.parse().ok())
                .unwrap_or(u64::MAX)
        };
        let next = self.by_connection(&format!(
            "SELECT connection, next_sequence FROM {SCHEMA}.connection_state"
        ))?;
        let retained = self.by_connection(&format!(
            "SELECT connection, count(DISTINCT sequence) FROM {SCHEMA}.retained \
             GROUP BY connection"
        ))?;
        let epochs =
            self.by_connection(&format!("SELECT connection, epoch FROM {SCHEMA}.leases"))?;
        let mut wrong = Problems::default();
        for (connection, count) in changes {
            let next_sequence = next.iter().find(|(c, _)| c == connection).map(|(_, n)| *n);
            let kept = retained
                .iter()
                .find(|(c, _)| c == connection)
                .map(|(_, n)| *n);
            if next_sequence != Some(count + 1) || kept != Some(*count) {
                wrong.count += 1;
                wrong.examples.push(format!(
                    "{connection}: next_sequence {next_sequence:?} and {kept:?} sequences \
                     retained, for {count} changes"
                ));
            }
        }
        Ok(StoreAudit {
            pending: number(0),
            dead_letters: number(1),
            retained: number(2),
            retained_shared: number(3),
            wrong_sequences: wrong,
            lease_changes: epochs.iter().map(|(_, epoch)| *epoch).sum(),
        })
    }

    /// Rows of `(connection, number)`.
    fn by_connection(&self, sql: &str) -> Result<Vec<(String, u64)>, String> {
        Ok(self
            .query(sql)?
            .into_iter()
            .filter_map(|row| Some((row.first()?.clone(), row.get(1)?.parse().ok()?)))
            .collect())
    }

    /// Runs one query; its rows, columns split.
    fn query(&self, sql: &str) -> Result<Vec<Vec<String>>, String> {
        let out = psql(&self.url, sql).map_err(|e| format!("reading the store: {e}"))?;
        Ok(out
            .lines()
            .map(|line| line.split('|').map(str::to_owned).collect())
            .collect())
    }
}

/// What the shared store holds after the final stop.
#[derive(Debug, Clone, Default)]
pub struct StoreAudit {
    /// Containers not delivered (must be 0).
    pub pending: u64,
    /// Dead letters (must be 0: the retry schedule outlasts every fault).
    pub dead_letters: u64,
    /// Delivered notifications kept for replay, duplicates' rows included.
    pub retained: u64,
    /// (connection, sequence) pairs retained under two different ids (must be 0): what a
    /// write from a fenced instance that numbered a page again would leave.
    pub retained_shared: u64,
    /// Connections whose `next_sequence` is not one past their change count, or whose
    /// retained sequences are not one per change (must be none).
    pub wrong_sequences: Problems,
    /// The sum of the leases' epochs: how many times a lease was taken, first takes included.
    pub lease_changes: u64,
}

impl StoreAudit {
    /// Whether the store shows every change delivered exactly once by number.
    pub fn is_clean(&self) -> bool {
        self.pending == 0
            && self.dead_letters == 0
            && self.retained_shared == 0
            && self.wrong_sequences.is_empty()
    }
}
