//! The admin HTTP API (actix-web) beside the running app: health, readiness, metrics, status,
//! and operator actions. It binds loopback by default; anything else requires a bearer token.
//!
//! Routes live in one table, [`routes`]: a module adds its own with one `.configure(...)`
//! line. Handlers reach the running app through [`AdminState`] (`web::Data<AdminState>`).

pub mod auth;
pub mod client;
pub mod cluster;
pub mod connections;
pub mod console;
pub mod dead_letters;
pub mod destinations;
pub mod error;
pub mod health;
pub mod metrics;
pub mod notifications;
pub mod overview;
pub mod reload;
pub mod replay;
pub mod security_headers;
pub mod server;
pub mod session;
pub mod status;
pub mod table;
pub mod viewer;

use actix_web::web;

use crate::actors::control::Control;
use crate::app::{App, Operations};
use crate::cluster::ClusterBoard;
use crate::config::Secret;
use crate::reload::Reloader;
use crate::status::StatusBoard;
use crate::store::Store;
use auth::wrong_tokens::WrongTokens;
use session::Sessions;

pub use error::ApiError;
pub use server::AdminServer;

/// What every handler may need from the running app; shared by the server's workers.
pub struct AdminState {
    /// What every connection and destination is doing, and the meters.
    pub board: StatusBoard,
    /// The store (backlogs, dead letters).
    pub store: Store,
    /// Operates the actor tree (poll now, pause, resume, apply a reload).
    pub control: Control,
    /// Re-reads the configuration file; `None` when the app was not started from a file.
    pub reloader: Option<Reloader>,
    /// Dead-letter and replay actions.
    pub operations: Operations,
    /// Bearer token every request must carry; `None` on loopback without `token_env`.
    pub token: Option<Secret>,
    /// The cluster as the lease keeper last saw it; `None` on a sled store (one instance),
    /// whose status, metrics and readiness stay as they were.
    pub cluster: Option<ClusterBoard>,
    /// The console's sign-in sessions, in memory (a restart signs everyone out).
    pub sessions: Sessions,
    /// Wrong admin tokens per address, which throttle guessing (bearer and sign-in alike).
    pub wrong_tokens: WrongTokens,
}

impl AdminState {
    /// The state of `app`'s admin API: its board, store and operations, with fresh (empty)
    /// sessions and wrong-token counts on its clock. `cluster` is `None` on a sled store.
    pub fn of(
        app: &App,
        token: Option<Secret>,
        reloader: Option<Reloader>,
        cluster: Option<ClusterBoard>,
    ) -> Self {
        let clock = app.operations().clock();
        Self {
            board: app.board().clone(),
            store: app.store().clone(),
            control: app.control(),
            operations: app.operations().clone(),
            reloader,
            token,
            cluster,
            sessions: Sessions::new(clock.clone()),
            wrong_tokens: WrongTokens::new(clock.clone()),
        }
    }
}

/// The route table: every admin endpoint, each module's routes added with one line.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(health::routes)
        .configure(status::routes)
        .configure(connections::routes)
        .configure(destinations::routes)
        .configure(metrics::routes)
        .configure(reload::routes)
        .configure(dead_letters::routes)
        .configure(replay::routes)
        .configure(console::routes)
        .configure(overview::routes)
        .configure(notifications::routes);
}
