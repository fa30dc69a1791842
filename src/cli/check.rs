//! `courier check`: validates a configuration file and exits; with `--probe`, also asks each
//! FHIR server what it supports.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use courier::config::Config;
use courier::status::counted;

/// Arguments of `courier check`.
#[derive(Args)]
pub struct CheckArgs {
    /// The configuration file.
    #[arg(long, short, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The configuration file, for `courier check FILE` (the same as `--config FILE`).
    #[arg(
        value_name = "FILE",
        required_unless_present = "config",
        conflicts_with = "config"
    )]
    file: Option<PathBuf>,
    /// Also ask each FHIR server's /metadata whether it can list the deletions asked for
    /// (exit 1 when one cannot, or cannot be asked).
    #[arg(long)]
    probe: bool,
}

/// Prints `OK` with what the file configures and a `warning:` line for each setting that
/// risks data (on stderr; not a failure), or every problem (exit 2).
pub fn run(args: &CheckArgs) -> ExitCode {
    let path = args.path();
    match super::load_or_report(path) {
        Ok(config) => {
            println!(
                "{}: OK ({}, {})",
                path.display(),
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

impl CheckArgs {
    /// The file named either way (clap requires exactly one).
    fn path(&self) -> &Path {
        self.config
            .as_deref()
            .or(self.file.as_deref())
            .expect("clap requires --config or FILE")
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
