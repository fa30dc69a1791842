//! A token endpoint that refuses Courier's client and says what it received: the secret,
//! however it was encoded or cut, reaches neither the log nor `/status`.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use courier_sim::SimEhrOptions;
use serde_json::json;
use url::form_urlencoded;

use crate::support::admin::get;
use crate::support::app::PATIENCE;
use crate::support::process::Rig;

/// The secret of issue 12: every character a form body or a Basic header encodes.
const SECRET: &str = "Sp3c+al/=&secret-42";

/// What the endpoint repeats of a request, one per answer in turn: the Basic header, the
/// credentials it decodes to, the form body, its decoded secret, and each half of that.
const ECHOES: usize = 6;

/// What the endpoint repeats of `request` and `body` in its `echo`-th answer.
fn echo(request: &HttpRequest, body: &[u8], echo: usize) -> String {
    let header = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let credentials = header
        .strip_prefix("Basic ")
        .and_then(|b64| STANDARD.decode(b64).ok())
        .map(|pair| String::from_utf8_lossy(&pair).into_owned())
        .unwrap_or_default();
    let form = String::from_utf8_lossy(body).into_owned();
    let secret = form_urlencoded::parse(body)
        .find(|(key, _)| key == "client_secret")
        .map(|(_, value)| value.into_owned())
        .or_else(|| {
            let (_, secret) = credentials.split_once(':')?;
            let pair = format!("s={secret}");
            let (_, decoded) = form_urlencoded::parse(pair.as_bytes()).next()?;
            Some(decoded.into_owned())
        })
        .unwrap_or_default();
    let half = secret.len() / 2;
    match echo % ECHOES {
        0 => header,
        1 => credentials,
        2 => form,
        3 => secret.clone(),
        4 => secret[..half].to_owned(),
        _ => secret[half..].to_owned(),
    }
}

/// Starts the echoing token endpoint; its URL and how many requests it answered.
fn start_token_endpoint() -> (String, Arc<AtomicUsize>) {
    let answered = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&answered);
    let server = HttpServer::new(move || {
        let count = Arc::clone(&count);
        App::new().route(
            "/token",
            web::post().to(move |request: HttpRequest, body: web::Bytes| {
                let n = count.fetch_add(1, Ordering::SeqCst);
                let received = echo(&request, &body, n);
                async move {
                    HttpResponse::BadRequest().json(json!({
                        "error": "invalid_client",
                        "error_description": format!("bad credentials [{received}]"),
                    }))
                }
            }),
        )
    })
    .workers(1)
    .disable_signals()
    .bind(("127.0.0.1", 0))
    .unwrap();
    let url = format!("http://{}/token", server.addrs()[0]);
    actix_rt::spawn(server.run());
    (url, answered)
}

/// Every form of the secret a leak could take.
fn forms() -> Vec<String> {
    let encoded: String = form_urlencoded::byte_serialize(SECRET.as_bytes()).collect();
    let credentials = STANDARD.encode(format!("courier:{encoded}"));
    let half = SECRET.len() / 2;
    vec![
        SECRET.to_owned(),
        SECRET[..half].to_owned(),
        SECRET[half..].to_owned(),
        encoded.clone(),
        encoded[..encoded.len() / 2].to_owned(),
        credentials.clone(),
        credentials[..credentials.len() / 2].to_owned(),
    ]
}

async fn refused_client_shows_no_secret(client_auth: &str) {
    let (token_url, answered) = start_token_endpoint();
    let mut rig = Rig::new(SimEhrOptions::default(), "");
    rig.log_filter = "courier=debug,warn";
    rig.env.push(("EHR_CLIENT_SECRET", SECRET.to_owned()));
    let config = rig.dir.path().join("courier.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "[connections.clinic-a.auth]\ntype = \"client_credentials\"\ntoken_url = {token_url:?}\n\
         client_id = \"courier\"\nclient_secret_env = \"EHR_CLIENT_SECRET\"\n\
         client_auth = {client_auth:?}\n"
    ));
    std::fs::write(&config, text).unwrap();
    let courier = rig.start();
    let admin = rig.admin_url().await;
    // `/status` shows the last refusal only: read it while every echo comes round twice.
    let deadline = Instant::now() + PATIENCE;
    let mut shown = BTreeSet::new();
    while answered.load(Ordering::SeqCst) < 2 * ECHOES {
        assert!(
            Instant::now() < deadline,
            "the token endpoint was not asked"
        );
        let status = get(&admin, "/status").await.json();
        let error = &status["connections"]["clinic-a"]["last_error"];
        shown.insert(error.as_str().unwrap_or_default().to_owned());
        actix_rt::time::sleep(Duration::from_millis(5)).await;
    }
    let status = shown.into_iter().collect::<Vec<_>>().join("\n");
    courier.stop().await;
    let logs = rig.log_text();
    assert!(
        logs.contains("invalid_client") && status.contains("invalid_client"),
        "the refusal is shown:\n{status}\n{logs}"
    );
    for form in forms() {
        assert!(!logs.contains(&form), "the log shows {form:?}:\n{logs}");
        assert!(!status.contains(&form), "/status shows {form:?}:\n{status}");
    }
}

#[actix_rt::test]
async fn a_token_endpoint_echoing_basic_credentials_leaks_no_secret() {
    refused_client_shows_no_secret("basic").await;
}

#[actix_rt::test]
async fn a_token_endpoint_echoing_a_posted_secret_leaks_no_secret() {
    refused_client_shows_no_secret("post").await;
}
