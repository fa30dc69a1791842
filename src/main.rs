//! The `courier` binary: parses the command line, sets up logging, and hands over to the
//! command's module in [`cli`]. It holds no logic of its own.

mod cli;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of glibc's malloc: glibc keeps one arena per thread and holds on to what a
/// start-up burst (10,000 connections' configuration and clients) freed, which was a third of
/// the process's memory; allocation is also a sixth of the CPU per notification.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    let default_level = args.command.default_log_level();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default_level))
        .init();
    args.command.run()
}
