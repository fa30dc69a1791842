//! `courier check`: validates a configuration file and exits.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

/// Arguments of `courier check`.
#[derive(Args)]
pub struct CheckArgs {
    /// The configuration file.
    #[arg(long, short)]
    config: PathBuf,
}

/// Prints `OK` with what the file configures, or every problem (exit 2).
pub fn run(args: &CheckArgs) -> ExitCode {
    match super::load_or_report(&args.config) {
        Ok(config) => {
            println!(
                "{}: OK ({} connections, {} destinations)",
                args.config.display(),
                config.connections.len(),
                config.destinations.len()
            );
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}
