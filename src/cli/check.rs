//! `courier check`: validates a configuration file and exits; with `--probe`, also asks each
//! FHIR server what it supports.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use courier::config::Config;
use courier::status::counted;

/// Arguments of `courier check`.
#[derive(Args)]
pub struct CheckArgs {
    /// The configuration file.
    #[arg(long, short)]
    config: PathBuf,
    /// Also ask each FHIR server's /metadata whether it can list the deletions asked for
    /// (exit 1 when one cannot, or cannot be asked).
    #[arg(long)]
    probe: bool,
}

/// Prints `OK` with what the file configures and a `warning:` line for each setting that
/// risks data (on stderr; not a failure), or every problem (exit 2).
pub fn run(args: &CheckArgs) -> ExitCode {
    match super::load_or_report(&args.config) {
        Ok(config) => {
            println!(
                "{}: OK ({}, {})",
                args.config.display(),
                counted(config.connections.len(), "connection"),
                counted(config.destinations.len(), "destination")
            );
            for warning in config.warnings() {
                eprintln!("warning: {warning}");
            }
            if args.probe && !probe_servers(&config) {
                return ExitCode::from(1);
            }
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

/// Prints what each FHIR server says about the deletions asked for; false if one cannot.
fn probe_servers(config: &Config) -> bool {
    actix_rt::System::new().block_on(async {
        let mut all_ok = true;
        for connection in config.connections.values() {
            let (lines, ok) = courier::ehr::fhir::probe::probe(connection).await;
            lines.iter().for_each(|line| println!("{line}"));
            all_ok &= ok;
        }
        all_ok
    })
}
