//! The `courier` binary: parses the command line, sets up logging, and hands over to the
//! command's module in [`cli`]. It holds no logic of its own.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    let default_level = args.command.default_log_level();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default_level))
        .init();
    args.command.run()
}
