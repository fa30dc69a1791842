//! The database handle: a connection pool on a runtime of its own. The pool's connections are
//! driven by that runtime, not by the actix workers, which stop before the store's final
//! flush and may be restarted; every query runs there and is awaited from wherever it was
//! asked.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio::runtime::Runtime;

use crate::config::PostgresConfig;
use crate::store::StoreError;

/// How long the server lets a session sit idle inside a transaction before ending it: the
/// shortest lease (3 s). Courier's transactions send their statements back to back, so only
/// a paused or cut-off instance idles that long, and its open fencing check would otherwise
/// hold off the takeover of its lease until TCP gave up on it.
const IDLE_IN_TRANSACTION_MS: u64 = 3000;

/// Threads of the database runtime: the queries themselves run in PostgreSQL, these only
/// encode, decode and wait.
const DB_THREADS: usize = 2;

/// How long opening one connection may take unless the connection string says otherwise.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A pool of connections to Courier's schema; cheap to clone.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    runtime: Arc<DbRuntime>,
    schema: Arc<str>,
}

/// The runtime, shut down without waiting when the last handle goes (dropping a runtime
/// inside another runtime's task would panic).
struct DbRuntime(Option<Runtime>);

impl Drop for DbRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

impl Db {
    /// A pool for `config`; connects lazily (the first query connects), so an unreachable
    /// database is an error of that query, retried like any other.
    pub fn new(config: &PostgresConfig) -> Result<Self, StoreError> {
        let mut pg: tokio_postgres::Config = config
            .url
            .expose()
            .parse()
            .map_err(|err| StoreError::Database(format!("${}: {err}", config.url_env)))?;
        // Every statement names tables without a schema: they resolve in Courier's.
        // A transaction left open by a paused or cut-off instance is ended by the server:
        // its fencing check holds the lease row FOR SHARE, and a takeover waits for it.
        pg.options(format!(
            "-c search_path={} -c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_MS}",
            config.schema
        ));
        if pg.get_application_name().is_none() {
            pg.application_name("courier");
        }
        // A database that does not answer fails the query instead of holding it (and the
        // connection's work) for the operating system's TCP timeout.
        if pg.get_connect_timeout().is_none() {
            pg.connect_timeout(CONNECT_TIMEOUT);
        }
        let tls = super::tls::connector(config.ca_file.as_deref())?;
        let manager = Manager::from_config(
            pg,
            tls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(DB_THREADS)
            .thread_name("courier-db")
            .enable_all()
            .build()
            .map_err(|err| StoreError::Database(format!("starting the database runtime: {err}")))?;
        let pool = {
            let _entered = runtime.enter();
            Pool::builder(manager)
                .max_size(config.pool_size)
                .runtime(deadpool_postgres::Runtime::Tokio1)
                .build()
                .map_err(|err| StoreError::Database(format!("building the pool: {err}")))?
        };
        Ok(Self {
            pool,
            runtime: Arc::new(DbRuntime(Some(runtime))),
            schema: config.schema.as_str().into(),
        })
    }

    /// The schema Courier's tables are in.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// Runs `work` with the pool on the database runtime and answers its result here.
    pub async fn run<T, F, Fut>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(Pool) -> Fut,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let runtime = self
            .runtime
            .0
            .as_ref()
            .expect("the runtime lives as long as the handle");
        runtime
            .spawn(work(self.pool.clone()))
            .await
            .map_err(|err| StoreError::Database(format!("a database task failed: {err}")))?
    }

    /// Runs `work` on the database runtime and blocks the calling thread until it answers, at
    /// most `timeout`: for the store's synchronous paths (a completion, a backlog read), which
    /// may be called from a runtime's thread where [`Db::block_on`] would panic. On timeout
    /// the work goes on on the database runtime, its answer unread.
    pub fn wait<T, F, Fut>(&self, timeout: Duration, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(Pool) -> Fut,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let runtime = self
            .runtime
            .0
            .as_ref()
            .expect("the runtime lives as long as the handle");
        let (answer, answered) = std::sync::mpsc::sync_channel(1);
        let work = work(self.pool.clone());
        runtime.spawn(async move {
            // The caller may have given up waiting: then nobody reads this.
            let _ = answer.send(work.await);
        });
        match answered.recv_timeout(timeout) {
            Ok(result) => result,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(StoreError::Database(format!(
                "no answer within {} ms",
                timeout.as_millis()
            ))),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                Err(StoreError::Database("a database task failed".into()))
            }
        }
    }

    /// Runs `work` to its end from a thread outside any runtime (start-up, `courier store
    /// copy`).
    pub fn block_on<T, F, Fut>(&self, work: F) -> Result<T, StoreError>
    where
        F: FnOnce(Pool) -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let runtime = self
            .runtime
            .0
            .as_ref()
            .expect("the runtime lives as long as the handle");
        runtime.block_on(work(self.pool.clone()))
    }
}

/// A database error as the store reports it: SQLSTATE and message, never a row's values
/// (PostgreSQL's `DETAIL` can quote them, and they may be patient data).
pub fn db_error(what: &str, err: impl Into<DbFailure>) -> StoreError {
    StoreError::Database(format!("{what}: {}", err.into().0))
}

/// The text of a driver or pool failure, stripped of details that may quote data.
pub struct DbFailure(String);

impl From<tokio_postgres::Error> for DbFailure {
    fn from(err: tokio_postgres::Error) -> Self {
        match err.as_db_error() {
            Some(db) => DbFailure(format!("{} ({})", db.message(), db.code().code())),
            None => DbFailure(err.to_string()),
        }
    }
}

impl From<deadpool_postgres::PoolError> for DbFailure {
    fn from(err: deadpool_postgres::PoolError) -> Self {
        match err {
            deadpool_postgres::PoolError::Backend(err) => err.into(),
            other => DbFailure(other.to_string()),
        }
    }
}
