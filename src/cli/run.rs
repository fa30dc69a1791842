//! `courier run`: the service. Starts the app and its admin API, reloads the configuration on
//! SIGHUP, and stops gracefully on SIGINT or SIGTERM.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use actix_rt::signal::unix::{signal, Signal, SignalKind};
use clap::Args;
use courier::admin::{AdminServer, AdminState};
use courier::app::{App, AppOptions};
use courier::config;
use courier::reload::Reloader;
use courier::store::{Rollback, Store, StoreError, EXIT_STORE_DAMAGED, EXIT_STORE_WENT_BACKWARDS};
use futures_util::future::{select, Either};

/// Arguments of `courier run`.
#[derive(Args)]
pub struct RunArgs {
    /// The configuration file.
    #[arg(long, short)]
    config: PathBuf,
    /// Start on a store whose state went backwards (exit 4 without it): what it lost stays
    /// lost, is logged as an ERROR, and the store's high-water marks are reset to it.
    #[arg(long)]
    accept_store_rollback: bool,
}

/// The exit code when the store's final flush at shutdown failed (README, "A full disk").
const EXIT_FINAL_FLUSH_FAILED: u8 = 74;

/// Runs until SIGINT or SIGTERM; exit 2 for an invalid configuration, 3 for a damaged store,
/// 4 for a store that went backwards, 74 when the final flush failed, 1 when the store or the
/// admin address cannot be opened for another reason. A full disk at start is waited out.
pub fn run(args: &RunArgs) -> ExitCode {
    let config = match super::load_or_report(&args.config) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let rollback = match args.accept_store_rollback {
        true => Rollback::Accept,
        false => Rollback::Refuse,
    };
    let path = match &config.store {
        config::StoreConfig::Sled { path } => path.clone(),
        config::StoreConfig::Postgres(_) => {
            // SCAFFOLD: the cluster wiring replaces this.
            eprintln!("backend = \"postgres\" is not wired into `courier run` yet");
            return ExitCode::from(1);
        }
    };
    let store = match Store::open_when_room(&path, rollback) {
        Ok(store) => store,
        Err(err) => return refused(&path, &err),
    };
    let grace = config.runtime.shutdown_grace;
    let path = args.config.clone();
    let admin = config.admin.clone();
    // Bound before anything starts, so a taken address refuses the run cleanly.
    let listener = match admin
        .enabled
        .then(|| TcpListener::bind(admin.listen))
        .transpose()
    {
        Ok(listener) => listener,
        Err(err) => {
            log::error!("the admin API cannot listen on {}: {err}", admin.listen);
            return ExitCode::from(1);
        }
    };
    let code = actix_rt::System::new().block_on(async move {
        let app = App::start(config, store, AppOptions::default());
        let reloader = Reloader::new(path, Arc::new(config::process_env), app.control());
        let server = match listener.map(|l| start_admin(l, &app, &admin, &reloader)) {
            Some(Err(err)) => {
                log::error!("the admin API cannot start on {}: {err}", admin.listen);
                let _ = app.shutdown(grace).await;
                return ExitCode::from(1);
            }
            Some(Ok(server)) => Some(server),
            None => None,
        };
        serve_signals(&reloader).await;
        if let Some(server) = server {
            server.stop().await;
        }
        match app.shutdown(grace).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(_) => ExitCode::from(EXIT_FINAL_FLUSH_FAILED),
        }
    });
    log::info!("stopped");
    code
}

/// Prints why the store did not open; the exit code tells a script which way out applies.
fn refused(path: &std::path::Path, err: &StoreError) -> ExitCode {
    // These two name the store themselves.
    let code = match err {
        StoreError::Damaged(_) => EXIT_STORE_DAMAGED,
        StoreError::WentBackwards(_) => EXIT_STORE_WENT_BACKWARDS,
        _ => {
            eprintln!("{}: {err}", path.display());
            return ExitCode::from(1);
        }
    };
    eprintln!("{err}");
    ExitCode::from(code)
}

fn start_admin(
    listener: TcpListener,
    app: &App,
    admin: &courier::config::AdminConfig,
    reloader: &Reloader,
) -> std::io::Result<AdminServer> {
    let state = AdminState {
        board: app.board().clone(),
        store: app.store().clone(),
        control: app.control(),
        operations: app.operations().clone(),
        reloader: Some(reloader.clone()),
        token: admin.token.clone(),
        cluster: None,
    };
    let server = AdminServer::start_on(listener, state)?;
    log::info!("admin API listening on {}", server.url());
    Ok(server)
}

/// Reloads on every SIGHUP; returns at SIGINT or SIGTERM.
async fn serve_signals(reloader: &Reloader) {
    let mut hangup = handler(SignalKind::hangup());
    let mut terminate = handler(SignalKind::terminate());
    let mut interrupt = handler(SignalKind::interrupt());
    loop {
        let stop = select(Box::pin(terminate.recv()), Box::pin(interrupt.recv()));
        match select(Box::pin(hangup.recv()), stop).await {
            Either::Left(_) => {
                log::info!("SIGHUP received; reloading the configuration");
                // The outcome is logged by the reloader.
                let _ = reloader.reload().await;
            }
            Either::Right((Either::Left(_), _)) => return log::info!("SIGTERM received; stopping"),
            Either::Right((Either::Right(_), _)) => return log::info!("SIGINT received; stopping"),
        }
    }
}

fn handler(kind: SignalKind) -> Signal {
    signal(kind).expect("installing a signal handler")
}
