//! `courier store copy`: moves a stopped instance's sled store into the PostgreSQL store a
//! configuration names, so the instance can start again as (the first member of) a cluster.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use courier::config::StoreConfig;
use courier::store::copy::{self, CopyError};

/// Arguments of `courier store`.
#[derive(Args)]
pub struct StoreArgs {
    /// What to do.
    #[command(subcommand)]
    action: StoreAction,
}

/// The `courier store` actions.
#[derive(Subcommand)]
enum StoreAction {
    /// Copy a stopped instance's sled store (cursors, sequences, pending containers, dead
    /// letters, FHIR cursors and versions seen, retained notifications) into the empty
    /// PostgreSQL store of --config, in one transaction; the sled store is left as it was.
    Copy(CopyArgs),
}

/// Arguments of `courier store copy`.
#[derive(Args)]
struct CopyArgs {
    /// The sled store's directory (the old configuration's `[store] path`).
    #[arg(long)]
    from: PathBuf,
    /// The configuration whose `[store] backend = "postgres"` receives the copy.
    #[arg(long, short)]
    config: PathBuf,
}

/// Runs the action; exit 2 when the configuration is unusable, 1 when the copy failed
/// (nothing copied).
pub fn run(args: &StoreArgs) -> ExitCode {
    match &args.action {
        StoreAction::Copy(args) => run_copy(args),
    }
}

fn run_copy(args: &CopyArgs) -> ExitCode {
    let config = match super::load_or_report(&args.config) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let StoreConfig::Postgres(target) = &config.store else {
        eprintln!(
            "{}: [store] is a sled store ({}); `courier store copy` copies into a \
             backend = \"postgres\" store",
            args.config.display(),
            config.store.describe()
        );
        return ExitCode::from(2);
    };
    match copy::copy(&args.from, target) {
        Ok(copied) => {
            print!("{copied}");
            println!(
                "nothing was deleted from {}; keep it until the cluster runs on the copy",
                args.from.display()
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("courier store copy: {err}");
            if !matches!(err, CopyError::Commit(_)) {
                eprintln!("nothing was copied");
            }
            ExitCode::from(1)
        }
    }
}
