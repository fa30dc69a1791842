//! The `courier` binary: parses the command line, loads the configuration, sets up logging,
//! and hands over to [`courier::app::App`] (or the demo). It holds no logic of its own.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use courier::app::{App, AppOptions};
use courier::config;
use courier::store::Store;

/// mimalloc instead of glibc's malloc: glibc keeps one arena per thread and holds on to what a
/// start-up burst (10,000 connections' configuration and clients) freed, which was a third of
/// the process's memory; allocation is also a sixth of the CPU per notification.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Polls EHR APIs that cannot push events and delivers one signed webhook per change.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// See it work: a simulated EHR and a local webhook receiver, in this process.
    Demo(courier::demo::DemoArgs),
    /// Validate a configuration file and exit.
    Check {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Run until SIGINT or SIGTERM.
    Run {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_level = if matches!(cli.command, Command::Demo(_)) {
        "warn"
    } else {
        "info"
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default_level))
        .init();
    match cli.command {
        Command::Demo(args) => courier::demo::run(args),
        Command::Check { config } => check(&config),
        Command::Run { config } => run(&config),
    }
}

fn check(path: &std::path::Path) -> ExitCode {
    match config::load(path, &config::process_env) {
        Ok(config) => {
            println!(
                "{}: OK ({} connections, {} destinations)",
                path.display(),
                config.connections.len(),
                config.destinations.len()
            );
            ExitCode::SUCCESS
        }
        Err(errors) => {
            eprintln!("{errors}");
            ExitCode::from(2)
        }
    }
}

fn run(path: &std::path::Path) -> ExitCode {
    let config = match config::load(path, &config::process_env) {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::from(2);
        }
    };
    let store = match Store::open(&config.store.path) {
        Ok(store) => store,
        Err(err) => {
            eprintln!("{}: {err}", config.store.path.display());
            return ExitCode::from(1);
        }
    };
    let grace = config.runtime.shutdown_grace;
    actix_rt::System::new().block_on(async move {
        let app = App::start(config, store, AppOptions::default());
        let signal = courier::app::stop_signal().await;
        log::info!("{signal} received; stopping");
        app.shutdown(grace).await;
    });
    log::info!("stopped");
    ExitCode::SUCCESS
}
