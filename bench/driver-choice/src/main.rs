//! Chooses Courier's PostgreSQL driver by measurement: tokio-postgres + deadpool-postgres
//! (the scaffold's) against sqlx, on the store's two hot transactions (a page commit and a
//! completion), each with 1 and 4 writers over 12 connections. Runs are interleaved
//! (repetition, then work, then writers, then driver) so the host's drift hits all drivers
//! alike; each run's line is printed as it ends, then a Markdown summary.
//!
//! Usage: `driver-choice [--secs 10] [--reps 2] [--prefill 30000] [--tasks 1,4]
//! [--drivers tokio-postgres,sqlx] [--work page-unnest,page-rows,complete-unnest,complete-rows]
//! [--database courier_driverbench] [--server postgres://postgres@127.0.0.1:5432]`

mod cpu;
mod report;
mod run;
mod schema;
mod sql;
mod sqlx_pg;
mod tokio_pg;
mod workload;

use std::error::Error;
use std::time::Duration;

use run::{Driver, Plan, Work};
use workload::Insert;

type BoxError = Box<dyn Error + Send + Sync>;

/// The command line.
struct Options {
    secs: u64,
    reps: usize,
    prefill: i64,
    tasks: Vec<usize>,
    drivers: Vec<Driver>,
    works: Vec<Work>,
    database: String,
    server: String,
}

fn parse_list<T>(
    value: &str,
    item: impl Fn(&str) -> Result<T, BoxError>,
) -> Result<Vec<T>, BoxError> {
    value.split(',').map(item).collect()
}

fn driver(name: &str) -> Result<Driver, BoxError> {
    match name {
        "tokio-postgres" => Ok(Driver::TokioPostgres),
        "sqlx" => Ok(Driver::Sqlx),
        "sqlx-ping" => Ok(Driver::SqlxPing),
        other => Err(format!("unknown driver {other}").into()),
    }
}

fn work(name: &str) -> Result<Work, BoxError> {
    match name {
        "page-unnest" => Ok(Work::Page(Insert::Unnest)),
        "page-rows" => Ok(Work::Page(Insert::Rows)),
        "complete-unnest" => Ok(Work::Complete(Insert::Unnest)),
        "complete-rows" => Ok(Work::Complete(Insert::Rows)),
        other => Err(format!("unknown work {other}").into()),
    }
}

fn options() -> Result<Options, BoxError> {
    let mut options = Options {
        secs: 10,
        reps: 2,
        prefill: 30_000,
        tasks: vec![1, 4],
        drivers: vec![Driver::TokioPostgres, Driver::Sqlx],
        works: parse_list("page-unnest,page-rows,complete-unnest,complete-rows", work)?,
        database: "courier_driverbench".into(),
        server: "postgres://postgres@127.0.0.1:5432".into(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--secs" => options.secs = value.parse()?,
            "--reps" => options.reps = value.parse()?,
            "--prefill" => options.prefill = value.parse()?,
            "--tasks" => options.tasks = parse_list(&value, |t| Ok(t.parse()?))?,
            "--drivers" => options.drivers = parse_list(&value, driver)?,
            "--work" => options.works = parse_list(&value, work)?,
            "--database" => options.database = value,
            "--server" => options.server = value,
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    Ok(options)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let options = options()?;
    schema::ensure_database(&format!("{}/postgres", options.server), &options.database).await?;
    let url = format!("{}/{}", options.server, options.database);
    let setup = schema::connect(&url).await?;
    schema::create(&setup).await?;
    println!("{}", report::HEADER);
    let mut results = Vec::new();
    for rep in 1..=options.reps {
        for &work in &options.works {
            for &tasks in &options.tasks {
                // Alternate the drivers' order so neither always runs first after a reset.
                let mut drivers = options.drivers.clone();
                if rep % 2 == 0 {
                    drivers.reverse();
                }
                for driver in drivers {
                    let plan = Plan {
                        driver,
                        work,
                        tasks,
                        duration: Duration::from_secs(options.secs),
                        prefill: options.prefill,
                    };
                    let outcome = run::run(&setup, &url, plan).await?;
                    println!("{}", report::line(&plan, rep, &outcome));
                    results.push((plan, outcome));
                }
            }
        }
    }
    println!("\n{}", report::summary(&results));
    Ok(())
}
