//! The subcommands, one module each: a new command is one file and one [`Command`] variant.

mod check;
mod demo;
mod dlq;
mod replay;
mod run;
mod status;
mod store;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use courier::admin::client::{AdminClient, TOKEN_ENV};
use courier::config::{self, Config};

/// Polls EHR APIs that cannot push events and delivers one signed webhook per change.
#[derive(Parser)]
#[command(version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Every subcommand.
#[derive(Subcommand)]
pub enum Command {
    /// See it work: a simulated EHR and a local webhook receiver, in this process.
    Demo(demo::DemoArgs),
    /// Validate a configuration file and exit.
    Check(check::CheckArgs),
    /// Run until SIGINT or SIGTERM; SIGHUP reloads the configuration.
    Run(run::RunArgs),
    /// Show what a running instance is doing, from its admin API.
    Status(status::StatusArgs),
    /// List, show, retry or purge a running instance's dead letters.
    Dlq(dlq::DlqArgs),
    /// Re-send a destination's delivered notifications (same ids) through a running instance.
    Replay(replay::ReplayArgs),
    /// Move a stopped instance's store: `courier store copy --from <sled dir> --config <file>`.
    Store(store::StoreArgs),
}

impl Command {
    /// `RUST_LOG`'s default: the demo prints its own lines, so only warnings. At `info`,
    /// actix's own lifecycle lines (`starting 1 workers`, `Actix runtime found`) would sit
    /// beside Courier's and contradict its worker count, so its server logs warnings only.
    pub fn default_log_level(&self) -> &'static str {
        match self {
            Command::Demo(_) => "warn",
            Command::Status(_) | Command::Dlq(_) | Command::Replay(_) => "error",
            Command::Store(_) => "warn",
            _ => "info,actix_server=warn",
        }
    }

    /// Runs the command; the exit code says how it went.
    pub fn run(self) -> ExitCode {
        match self {
            Command::Demo(args) => demo::run(args),
            Command::Check(args) => check::run(&args),
            Command::Run(args) => run::run(&args),
            Command::Status(args) => status::run(&args),
            Command::Dlq(args) => dlq::run(&args),
            Command::Replay(args) => replay::run(&args),
            Command::Store(args) => store::run(&args),
        }
    }
}

/// How a command that talks to a running instance finds its admin API.
#[derive(Args)]
pub struct AdminArgs {
    /// The admin API's base URL (default: from --config's admin.listen, else
    /// http://127.0.0.1:9464). The bearer token, when needed, is read from COURIER_ADMIN_TOKEN.
    /// Global, so `courier dlq list --admin URL` (the form README shows) works as well as
    /// `courier dlq --admin URL list`.
    #[arg(long, global = true)]
    pub admin: Option<String>,
    /// The configuration file, to find the admin address (only `admin.listen` is read).
    #[arg(long, short, global = true)]
    pub config: Option<PathBuf>,
}

impl AdminArgs {
    /// A client for the chosen API; exit 2 when `--config` cannot be read.
    pub fn client(&self) -> Result<AdminClient, ExitCode> {
        let listen = match &self.config {
            Some(path) => AdminClient::listen_in(path).map_err(|problem| {
                eprintln!("{problem}");
                ExitCode::from(2)
            })?,
            None => None,
        };
        let base = AdminClient::base_url(self.admin.as_deref(), listen);
        Ok(AdminClient::new(&base, std::env::var(TOKEN_ENV).ok()))
    }
}

/// Loads a configuration, printing its errors (exit 2) as `courier check` does.
pub fn load_or_report(path: &Path) -> Result<Config, ExitCode> {
    config::load(path, &config::process_env).map_err(|errors| {
        eprintln!("{errors}");
        ExitCode::from(2)
    })
}
