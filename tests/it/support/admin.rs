//! The admin API beside a test's app: started on `127.0.0.1:0` with a reloader of the test's
//! configuration file, and small JSON request helpers.

use std::sync::Arc;

use actix_web::http::StatusCode;
use courier::admin::{AdminServer, AdminState};
use courier::cluster::ClusterBoard;
use courier::reload::Reloader;
use serde_json::Value;

use super::app::{TestApp, SECRET_ENV};

/// Starts the admin API of `test`'s app on a free loopback port, requiring `token` when
/// given; `POST /reload` re-reads `test.config_path`.
pub fn start_admin(test: &TestApp, token: Option<&str>) -> AdminServer {
    start_admin_in_cluster(test, token, None)
}

/// [`start_admin`] for an instance of a cluster whose view is `cluster` (a board the test
/// fills by hand, as the lease keeper would).
pub fn start_admin_in_cluster(
    test: &TestApp,
    token: Option<&str>,
    cluster: Option<ClusterBoard>,
) -> AdminServer {
    let secret = test.secret.clone();
    let env = Arc::new(move |name: &str| (name == SECRET_ENV).then(|| secret.clone()));
    let reloader = Reloader::new(test.config_path.clone(), env, test.app.control());
    let token = token.map(|t| courier::config::Secret::new(t.to_owned()));
    let state = AdminState::of(&test.app, token, Some(reloader), cluster);
    AdminServer::start("127.0.0.1:0".parse().unwrap(), state).expect("the admin API starts")
}

/// An answer of the admin API: status and body.
pub struct Answer {
    /// The HTTP status.
    pub status: StatusCode,
    /// The body as text.
    pub text: String,
}

impl Answer {
    /// The body as JSON; panics (showing the body) when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
}

/// Sends `method path` to the admin API at `base`, with `token` as a bearer token when given.
pub async fn call(base: &str, method: &str, path: &str, token: Option<&str>) -> Answer {
    let client = awc::Client::default();
    let url = format!("{base}{path}");
    let request = match method {
        "GET" => client.get(url),
        "POST" => client.post(url),
        "DELETE" => client.delete(url),
        other => panic!("unsupported method {other}"),
    };
    let request = match token {
        Some(token) => request.bearer_auth(token),
        None => request,
    };
    let mut response = request.send().await.expect("the admin API answers");
    let body = response.body().limit(16 << 20).await.unwrap();
    Answer {
        status: response.status(),
        text: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// `GET path`, without a token.
pub async fn get(base: &str, path: &str) -> Answer {
    call(base, "GET", path, None).await
}

/// `POST path`, without a token.
pub async fn post(base: &str, path: &str) -> Answer {
    call(base, "POST", path, None).await
}

/// Runs the `courier` binary with `args` (a CLI command talking to the admin API) off the
/// test's thread, which the app's supervisor needs to answer it; returns its output.
pub async fn courier_cli(args: &[&str]) -> std::process::Output {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    actix_rt::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_courier"))
            .args(&args)
            .env_remove(courier::admin::client::TOKEN_ENV)
            .output()
            .expect("the courier binary runs")
    })
    .await
    .expect("the CLI thread ends")
}

/// Puts 10,000 idle connections `bulk-00000`… on `board` beside the app's own, one of them
/// (`bulk-04242`) with an error, so it sorts first: a console page as a large installation
/// sees it, without starting 10,000 actors.
pub fn crowd_board(board: &courier::status::StatusBoard) {
    for n in 0..10_000 {
        board.connection(&format!("bulk-{n:05}"), |c| {
            c.state = courier::status::ConnectionState::Idle;
            c.cursor = Some(n.to_string());
        });
    }
    board.connection("bulk-04242", |c| c.last_error = Some("HTTP 503".into()));
}
