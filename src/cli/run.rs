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
use courier::cluster::Cluster;
use courier::config;
use courier::reload::Reloader;
use courier::store::{Rollback, Store, StoreError, EXIT_STORE_DAMAGED, EXIT_STORE_WENT_BACKWARDS};
use futures_util::future::{select, Either};

mod cluster;

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
    /// This instance's name in a cluster (`backend = "postgres"`), unique among the live
    /// instances; default: the host's name.
    #[arg(long)]
    instance: Option<String>,
    /// Where the admin API listens, over `[admin] listen` (several instances sharing one
    /// configuration file on one host).
    #[arg(long)]
    admin_listen: Option<std::net::SocketAddr>,
}

/// The exit code when the store's final flush at shutdown failed (README, "A full disk").
const EXIT_FINAL_FLUSH_FAILED: u8 = 74;

/// Runs until SIGINT or SIGTERM; exit 2 for an invalid configuration, 3 for a damaged store,
/// 4 for a store that went backwards, 74 when the final flush failed, 1 when the store or the
/// admin address cannot be opened for another reason (in a cluster: the database cannot be
/// reached, or a live instance has this one's name). A full disk at start is waited out. In a
/// cluster, SIGTERM hands this instance's leases back once its connections stopped.
pub fn run(args: &RunArgs) -> ExitCode {
    let mut config = match super::load_or_report(&args.config) {
        Ok(config) => config,
        Err(code) => return code,
    };
    if let Err(code) = cluster::override_listen(&mut config.admin, args.admin_listen) {
        return code;
    }
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
    let (store, cluster) = match open(args, &config, listener.as_ref()) {
        Ok(opened) => opened,
        Err(code) => return code,
    };
    let grace = config.runtime.shutdown_grace;
    let path = args.config.clone();
    let code = actix_rt::System::new().block_on(async move {
        let app = match cluster {
            Some(cluster) => App::start_clustered(config, store, AppOptions::default(), cluster),
            None => App::start(config, store, AppOptions::default()),
        };
        let reloader = Reloader::new(path, Arc::new(config::process_env), app.control());
        let server = match listener.map(|l| start_admin(l, &app, &admin, Some(&reloader))) {
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

/// Opens the store: sled on this machine (refusing one that went backwards unless accepted),
/// or, for `backend = "postgres"`, the shared database as one instance of the cluster.
fn open(
    args: &RunArgs,
    config: &config::Config,
    listener: Option<&TcpListener>,
) -> Result<(Store, Option<Cluster>), ExitCode> {
    let pg = match &config.store {
        config::StoreConfig::Sled { path } => {
            let rollback = match args.accept_store_rollback {
                true => Rollback::Accept,
                false => Rollback::Refuse,
            };
            let store = Store::open_when_room(path, rollback).map_err(|e| refused(path, &e))?;
            return Ok((store, None));
        }
        config::StoreConfig::Postgres(pg) => pg,
    };
    let instance = args
        .instance
        .clone()
        .unwrap_or_else(cluster::default_instance);
    let admin_url = listener
        .and_then(|l| l.local_addr().ok())
        .map(|addr| format!("http://{addr}"));
    let (store, cluster) = cluster::join(config, pg, &instance, admin_url.as_deref())?;
    Ok((store, Some(cluster)))
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

/// Serves the admin API (and the console with it) of `app` on `listener`: `courier run`'s,
/// and `courier demo`'s, which has no configuration file to reload (`reloader` `None`).
pub(super) fn start_admin(
    listener: TcpListener,
    app: &App,
    admin: &courier::config::AdminConfig,
    reloader: Option<&Reloader>,
) -> std::io::Result<AdminServer> {
    let state = AdminState::of(
        app,
        admin.token.clone(),
        reloader.cloned(),
        app.cluster().cloned(),
    );
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
