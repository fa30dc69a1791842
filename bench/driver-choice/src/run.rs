//! One measured run: a fresh table state, a pool of `tasks` connections for one driver, and
//! `tasks` writers repeating one transaction until the time is up; answers rows/s and CPU.

use std::error::Error;
use std::fmt;
use std::time::{Duration, Instant};

use tokio_postgres::Client;

use crate::cpu::{self, Sample};
use crate::workload::{self, Insert, BATCH};
use crate::{schema, sqlx_pg, tokio_pg};

type BoxError = Box<dyn Error + Send + Sync>;

/// The driver under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Driver {
    /// tokio-postgres 0.7 + deadpool-postgres 0.14 (the scaffold's).
    TokioPostgres,
    /// sqlx 0.9, checkout without a ping.
    Sqlx,
    /// sqlx 0.9 with its default ping on every checkout.
    SqlxPing,
}

/// The transaction under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Work {
    /// A page commit: fence, state lock, 100 pending rows, state upsert.
    Page(Insert),
    /// A completion: fence, delete 100 pending rows, 100 retained rows.
    Complete(Insert),
}

/// What to run.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// The driver.
    pub driver: Driver,
    /// The transaction.
    pub work: Work,
    /// Concurrent writers, and connections in the pool.
    pub tasks: usize,
    /// How long the writers keep going.
    pub duration: Duration,
    /// Pending rows per connection a completion run may consume.
    pub prefill: i64,
}

/// What a run measured.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Rows written (page) or completed (completion).
    pub rows: u64,
    /// Wall time from the first transaction to the last writer's end.
    pub wall: Duration,
    /// CPU spent during the run.
    pub cpu: Sample,
    /// The load average at the end.
    pub load: f64,
    /// Whether a completion writer ran out of pending rows before the time was up.
    pub exhausted: bool,
}

impl Outcome {
    /// Rows per second.
    pub fn rate(&self) -> f64 {
        self.rows as f64 / self.wall.as_secs_f64()
    }

    /// Milliseconds of `cpu` per 10,000 rows.
    pub fn per_10k(&self, cpu: Duration) -> f64 {
        cpu.as_secs_f64() * 1000.0 * 10_000.0 / self.rows.max(1) as f64
    }

    /// The share of the machine's cores used by `cpu` over the run.
    pub fn share(&self, cpu: Duration) -> f64 {
        cpu.as_secs_f64() / (self.wall.as_secs_f64() * cpu::cores() as f64)
    }
}

impl fmt::Display for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Driver::TokioPostgres => "tokio-postgres",
            Driver::Sqlx => "sqlx",
            Driver::SqlxPing => "sqlx-ping",
        })
    }
}

impl fmt::Display for Work {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Work::Page(Insert::Unnest) => "page-unnest",
            Work::Page(Insert::Rows) => "page-rows",
            Work::Complete(Insert::Unnest) => "complete-unnest",
            Work::Complete(Insert::Rows) => "complete-rows",
        })
    }
}

#[derive(Clone)]
enum Pool {
    Tokio(deadpool_postgres::Pool),
    Sqlx(sqlx::PgPool),
}

impl Pool {
    async fn open(driver: Driver, url: &str, size: usize) -> Result<Pool, BoxError> {
        Ok(match driver {
            Driver::TokioPostgres => Pool::Tokio(tokio_pg::pool(url, size)?),
            Driver::Sqlx => Pool::Sqlx(sqlx_pg::pool(url, size, false).await?),
            Driver::SqlxPing => Pool::Sqlx(sqlx_pg::pool(url, size, true).await?),
        })
    }

    async fn backends(&self, size: usize) -> Result<Vec<i32>, BoxError> {
        match self {
            Pool::Tokio(pool) => tokio_pg::backends(pool, size).await,
            Pool::Sqlx(pool) => sqlx_pg::backends(pool, size).await,
        }
    }

    async fn page(&self, connection: &str, insert: Insert) -> Result<u64, BoxError> {
        match self {
            Pool::Tokio(pool) => tokio_pg::page(pool, connection, insert).await,
            Pool::Sqlx(pool) => sqlx_pg::page(pool, connection, insert).await,
        }
    }

    async fn complete(
        &self,
        connection: &str,
        first: i64,
        insert: Insert,
    ) -> Result<u64, BoxError> {
        match self {
            Pool::Tokio(pool) => tokio_pg::complete(pool, connection, first, insert).await,
            Pool::Sqlx(pool) => sqlx_pg::complete(pool, connection, first, insert).await,
        }
    }

    async fn close(self) {
        match self {
            Pool::Tokio(pool) => pool.close(),
            Pool::Sqlx(pool) => pool.close().await,
        }
    }
}

/// Prepares the tables for `plan`, then runs it.
pub async fn run(setup: &Client, url: &str, plan: Plan) -> Result<Outcome, BoxError> {
    schema::reset(setup).await?;
    if matches!(plan.work, Work::Complete(_)) {
        schema::prefill(setup, plan.prefill).await?;
    }
    let pool = Pool::open(plan.driver, url, plan.tasks).await?;
    let backends = pool.backends(plan.tasks).await?;
    let before = Sample::now(&backends);
    let started = Instant::now();
    let deadline = started + plan.duration;
    let writers: Vec<_> = (0..plan.tasks)
        .map(|task| {
            let pool = pool.clone();
            let connections = workload::connections_of(task, plan.tasks);
            tokio::spawn(write(pool, connections, plan, deadline))
        })
        .collect();
    let mut rows = 0;
    let mut exhausted = false;
    for writer in writers {
        let (written, ran_out) = writer.await??;
        rows += written;
        exhausted |= ran_out;
    }
    let wall = started.elapsed();
    let cpu = before.until(&Sample::now(&backends));
    pool.close().await;
    verify(setup, plan, rows).await?;
    Ok(Outcome {
        rows,
        wall,
        cpu,
        load: cpu::load(),
        exhausted,
    })
}

/// Checks the tables hold what the writers counted: a page run's rows all pending, a
/// completion run's rows all retained and gone from pending.
async fn verify(setup: &Client, plan: Plan, rows: u64) -> Result<(), BoxError> {
    let (pending, retained) = schema::counts(setup).await?;
    let rows = i64::try_from(rows)?;
    let expected = match plan.work {
        Work::Page(_) => (rows, 0),
        Work::Complete(_) => (plan.prefill * workload::CONNECTIONS as i64 - rows, rows),
    };
    if (pending, retained) != expected {
        return Err(format!(
            "{} {}: counted {rows} rows but pending={pending} retained={retained}",
            plan.driver, plan.work
        )
        .into());
    }
    Ok(())
}

/// One writer: cycles over its connections until the deadline; answers rows written and
/// whether it ran out of pending rows.
async fn write(
    pool: Pool,
    connections: Vec<String>,
    plan: Plan,
    deadline: Instant,
) -> Result<(u64, bool), BoxError> {
    let mut next = vec![0_i64; connections.len()];
    let mut rows = 0;
    let mut turn = 0;
    while Instant::now() < deadline {
        let i = turn % connections.len();
        turn += 1;
        rows += match plan.work {
            Work::Page(insert) => pool.page(&connections[i], insert).await?,
            Work::Complete(insert) => {
                if next[i] + BATCH > plan.prefill {
                    return Ok((rows, true));
                }
                let done = pool.complete(&connections[i], next[i], insert).await?;
                next[i] += BATCH;
                done
            }
        };
    }
    Ok((rows, false))
}
