//! The simulated webhook receiver: a real HTTP endpoint on loopback that verifies Standard
//! Webhooks signatures, records every request, and answers with scripted statuses, so tests can
//! prove delivery, retries and deduplication end to end and the demo can show what arrives.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Mutex;
use std::time::Instant;

use actix_web::dev::ServerHandle;
use actix_web::http::header::RETRY_AFTER;
use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer};
use serde_json::Value;

use super::demo_lines::DemoLines;
use super::inbox::{Answer, Received, ReceiverControl};
use courier_wire::SigningKey;

/// How far a `webhook-timestamp` may be from now, as the Standard Webhooks libraries allow.
const TOLERANCE_SECS: i64 = 300;

/// Largest notification body accepted; far above actix-web's 256 KiB default so a large
/// enriched record is never refused by the test receiver itself.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// How the receiver checks and shows what it gets.
#[derive(Clone)]
pub struct ReceiverOptions {
    /// The destination's `whsec_…` secret; requests that do not verify with it get 401.
    pub secret: String,
    /// Print one line per request to stdout (for `courier demo`, see [`DemoLines`]): ids,
    /// types, the attempt and a synthetic patient's name, never a resource body.
    pub print: bool,
    /// Keep every request, body included, for [`ReceiverControl::received`]. Off for long runs
    /// (the crash torture), which check the receiver's ledger of identities instead.
    pub keep_requests: bool,
}

impl ReceiverOptions {
    /// Options for a quiet receiver with `secret` that keeps every request.
    pub fn new(secret: impl Into<String>) -> Self {
        Self {
            secret: secret.into(),
            print: false,
            keep_requests: true,
        }
    }
}

impl fmt::Debug for ReceiverOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReceiverOptions")
            .field("secret", &"<redacted>")
            .field("print", &self.print)
            .field("keep_requests", &self.keep_requests)
            .finish()
    }
}

/// A running receiver; dereferences to its [`ReceiverControl`]. Dropping it stops the server.
#[derive(Debug)]
pub struct SimReceiver {
    control: ReceiverControl,
    addr: SocketAddr,
    server: ServerHandle,
}

/// What a handler needs besides the shared state.
struct Endpoint {
    control: ReceiverControl,
    key: SigningKey,
    /// What the demo prints, when it does; the lock keeps a line and its explanation together.
    print: Option<Mutex<DemoLines>>,
}

impl SimReceiver {
    /// Starts listening on `127.0.0.1` on a free port, on the current actix System. Fails with
    /// `InvalidInput` when the secret is not a usable `whsec_` secret.
    pub fn start(options: ReceiverOptions) -> io::Result<SimReceiver> {
        let key = SigningKey::from_secret(&options.secret)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let control = ReceiverControl::new(options.keep_requests);
        let endpoint = web::Data::new(Endpoint {
            control: control.clone(),
            key,
            print: options.print.then(Mutex::default),
        });
        let server = HttpServer::new(move || {
            App::new()
                .app_data(endpoint.clone())
                .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
                .route("/hooks", web::post().to(hook))
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))?;
        let (addr, handle) = super::spawn_bound(server.addrs(), server.run())?;
        Ok(SimReceiver {
            control,
            addr,
            server: handle,
        })
    }

    /// The destination URL to configure, like `http://127.0.0.1:PORT/hooks`.
    pub fn url(&self) -> String {
        format!("http://{}/hooks", self.addr)
    }

    /// A handle that outlives borrows of the server, for other threads and tasks.
    pub fn control(&self) -> ReceiverControl {
        self.control.clone()
    }

    /// Stops the server; requests in flight are dropped (the sender sees a failure and retries).
    pub async fn stop(self) {
        self.server.stop(false).await;
    }
}

impl Deref for SimReceiver {
    type Target = ReceiverControl;

    fn deref(&self) -> &ReceiverControl {
        &self.control
    }
}

impl Drop for SimReceiver {
    fn drop(&mut self) {
        // Sending the command is synchronous; a test that panics still frees its port.
        drop(self.server.stop(false));
    }
}

async fn hook(endpoint: web::Data<Endpoint>, request: HttpRequest, body: Bytes) -> HttpResponse {
    let at = Instant::now();
    let latency = endpoint.control.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (id, timestamp, signature) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    );
    let now = chrono::Utc::now().timestamp();
    let verified = endpoint
        .key
        .verify(&id, &timestamp, &signature, &body, now, TOLERANCE_SECS)
        .is_ok();
    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let answer = endpoint.control.next_answer(verified, &json);
    let authorization = Some(header("authorization")).filter(|value| !value.is_empty());
    let received = Received {
        id,
        timestamp,
        signature,
        authorization,
        content_type: header("content-type"),
        json,
        body: body.to_vec(),
        verified,
        answered: answer.status,
        at,
    };
    if let Some(lines) = &endpoint.print {
        let mut lines = lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // One write, so nothing printed elsewhere comes between an explanation and its line.
        println!("{}", lines.lines(&received).join("\n"));
    }
    endpoint.control.record(received);
    respond(answer)
}

fn respond(answer: Answer) -> HttpResponse {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = HttpResponse::build(status);
    if let Some(secs) = answer.retry_after_secs {
        response.insert_header((RETRY_AFTER, secs.to_string()));
    }
    response.finish()
}
