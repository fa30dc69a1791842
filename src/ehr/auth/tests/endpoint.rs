//! A mock token endpoint that checks what a real one checks: client credentials, or a SMART
//! assertion's form fields, signature, claims and `jti`.

use std::collections::{BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::http::header;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ring::signature::{UnparsedPublicKey, ECDSA_P384_SHA384_FIXED, RSA_PKCS1_2048_8192_SHA384};
use serde_json::{json, Value};

use super::CLIENT_SECRET;
use crate::client_key::JwtAlgorithm;
use crate::config::{ClientAuth, SmartBackendAuth};

/// How the mock endpoint authenticates clients.
#[derive(Clone)]
pub(crate) enum Expect {
    /// Client id and [`CLIENT_SECRET`], in a Basic header or in the form.
    Secret(ClientAuth),
    /// A SMART assertion by `courier-test` signed with `public_key`.
    Assertion {
        public_key: Vec<u8>,
        algorithm: JwtAlgorithm,
    },
}

impl Expect {
    /// What the endpoint expects of `auth`'s assertions.
    pub(crate) fn assertion_of(auth: &SmartBackendAuth) -> Self {
        Expect::Assertion {
            public_key: auth.key.public_key(),
            algorithm: auth.algorithm,
        }
    }
}

/// What the endpoint saw and will answer.
struct State {
    expect: Expect,
    /// Answers to give, in order, before issuing tokens again: status and body.
    scripted: VecDeque<(u16, String)>,
    /// `expires_in` of the tokens issued; `Value::Null` leaves it out.
    expires_in: Value,
    /// How long each answer takes.
    delay: Duration,
    /// Token requests received.
    requests: usize,
    /// Every check a request failed, as "request N: what".
    problems: Vec<String>,
    /// The `jti`s seen, which must never repeat.
    jtis: BTreeSet<String>,
}

/// A token endpoint on `127.0.0.1:0` that issues `token-1`, `token-2`… to clients that pass
/// its checks, and answers `400 invalid_client` (recording why) to those that do not.
pub(crate) struct TokenEndpoint {
    state: Arc<Mutex<State>>,
    addr: SocketAddr,
    server: ServerHandle,
}

impl TokenEndpoint {
    /// Starts the endpoint on the current actix System.
    pub(crate) fn start(expect: Expect) -> Self {
        let state = Arc::new(Mutex::new(State {
            expect,
            scripted: VecDeque::new(),
            expires_in: json!(3600),
            delay: Duration::ZERO,
            requests: 0,
            problems: Vec::new(),
            jtis: BTreeSet::new(),
        }));
        let shared = web::Data::from(Arc::clone(&state));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .route("/oauth2/token", web::post().to(token))
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .unwrap();
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        actix_rt::spawn(server);
        Self {
            state,
            addr,
            server: handle,
        }
    }

    /// The token URL to configure.
    pub(crate) fn url(&self) -> String {
        format!("http://{}/oauth2/token", self.addr)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// Answers the next request with `status` and `body` instead of a token.
    pub(crate) fn script(&self, status: u16, body: &str) {
        self.state().scripted.push_back((status, body.to_owned()));
    }

    /// Issues tokens with this `expires_in` (`Value::Null`: none) from now on.
    pub(crate) fn expires_in(&self, expires_in: Value) {
        self.state().expires_in = expires_in;
    }

    /// Makes every answer take `delay`.
    pub(crate) fn delay(&self, delay: Duration) {
        self.state().delay = delay;
    }

    /// How many token requests arrived.
    pub(crate) fn requests(&self) -> usize {
        self.state().requests
    }

    /// The checks that requests failed; empty when every request was as it should be.
    pub(crate) fn problems(&self) -> Vec<String> {
        self.state().problems.clone()
    }
}

impl Drop for TokenEndpoint {
    fn drop(&mut self) {
        drop(self.server.stop(false));
    }
}

async fn token(
    state: web::Data<Mutex<State>>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let (answer, delay) = {
        let mut state = state.lock().unwrap();
        state.requests += 1;
        let n = state.requests;
        let problems = check(&mut state, &TokenRequest::new(&request, &body));
        let answer = if let Some((status, body)) = state.scripted.pop_front() {
            (status, body)
        } else if problems.is_empty() {
            let mut token = json!({"access_token": format!("token-{n}"), "token_type": "Bearer"});
            if !state.expires_in.is_null() {
                token["expires_in"] = state.expires_in.clone();
            }
            (200, token.to_string())
        } else {
            (400, json!({"error": "invalid_client"}).to_string())
        };
        let located = problems.into_iter().map(|p| format!("request {n}: {p}"));
        state.problems.extend(located);
        (answer, state.delay)
    };
    if !delay.is_zero() {
        actix_rt::time::sleep(delay).await;
    }
    let status = actix_web::http::StatusCode::from_u16(answer.0).unwrap();
    HttpResponse::build(status)
        .content_type("application/json")
        .body(answer.1)
}

/// A token request as the endpoint received it.
struct TokenRequest {
    content_type: Option<String>,
    authorization: Option<String>,
    form: Vec<(String, String)>,
    /// The URL it was sent to, which an assertion's `aud` must be.
    url: String,
}

impl TokenRequest {
    fn new(request: &HttpRequest, body: &[u8]) -> Self {
        let header = |name| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Self {
            content_type: header(header::CONTENT_TYPE),
            authorization: header(header::AUTHORIZATION),
            form: url::form_urlencoded::parse(body).into_owned().collect(),
            url: format!(
                "http://{}{}",
                request.connection_info().host(),
                request.path()
            ),
        }
    }

    /// The value of a form field sent exactly once.
    fn field(&self, name: &str) -> Option<&str> {
        let mut values = self.form.iter().filter(|(k, _)| k == name);
        match (values.next(), values.next()) {
            (Some((_, value)), None) => Some(value),
            _ => None,
        }
    }
}

/// Everything wrong with one token request.
fn check(state: &mut State, request: &TokenRequest) -> Vec<String> {
    let mut problems = Vec::new();
    if request.content_type.as_deref() != Some("application/x-www-form-urlencoded") {
        problems.push("content-type is not a form".to_owned());
    }
    if request.field("grant_type") != Some("client_credentials") {
        problems.push("grant_type is not client_credentials".to_owned());
    }
    match state.expect.clone() {
        Expect::Secret(client_auth) => check_secret(request, client_auth, &mut problems),
        Expect::Assertion {
            public_key,
            algorithm,
        } => {
            check_assertion_request(request, &mut problems);
            let Some(jwt) = request.field("client_assertion") else {
                problems.push("no client_assertion".to_owned());
                return problems;
            };
            match assertion(jwt, &public_key, algorithm, &request.url) {
                Ok(jti) if !state.jtis.insert(jti.clone()) => {
                    problems.push(format!("jti {jti} used before"));
                }
                Ok(_) => {}
                Err(problem) => problems.push(problem),
            }
        }
    }
    problems
}

/// The client id and secret, in the one place `client_auth` puts them.
fn check_secret(request: &TokenRequest, client_auth: ClientAuth, problems: &mut Vec<String>) {
    match client_auth {
        ClientAuth::Basic => {
            let expected = format!(
                "Basic {}",
                STANDARD.encode(format!("courier-test:{CLIENT_SECRET}"))
            );
            if request.authorization.as_deref() != Some(expected.as_str()) {
                problems.push("no Basic client credentials".to_owned());
            }
            if request.field("client_secret").is_some() {
                problems.push("client_secret in the form as well".to_owned());
            }
        }
        ClientAuth::Post => {
            let in_form = request.field("client_id") == Some("courier-test")
                && request.field("client_secret") == Some(CLIENT_SECRET);
            if !in_form {
                problems.push("no client_id and client_secret in the form".to_owned());
            }
            if request.authorization.is_some() {
                problems.push("an Authorization header as well".to_owned());
            }
        }
    }
}

/// The form fields of a SMART token request besides the assertion itself.
fn check_assertion_request(request: &TokenRequest, problems: &mut Vec<String>) {
    if request.authorization.is_some() || request.field("client_secret").is_some() {
        problems.push("a client secret besides the assertion".to_owned());
    }
    if request.field("client_assertion_type")
        != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    {
        problems.push("wrong client_assertion_type".to_owned());
    }
    if request.field("scope") != Some("system/Appointment.rs system/Patient.rs") {
        problems.push("wrong scope".to_owned());
    }
}

/// Checks a SMART client assertion as an EHR does; returns its `jti`.
fn assertion(
    jwt: &str,
    public_key: &[u8],
    algorithm: JwtAlgorithm,
    aud: &str,
) -> Result<String, String> {
    let parts: Vec<&str> = jwt.split('.').collect();
    let [header, claims, signature] = parts[..] else {
        return Err("the assertion is not a compact JWS".into());
    };
    let decode = |part: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|e| format!("base64url: {e}"))
    };
    let verifier = match algorithm {
        JwtAlgorithm::Rs384 => UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA384, public_key),
        JwtAlgorithm::Es384 => UnparsedPublicKey::new(&ECDSA_P384_SHA384_FIXED, public_key),
    };
    verifier
        .verify(format!("{header}.{claims}").as_bytes(), &decode(signature)?)
        .map_err(|_| "the signature does not verify".to_owned())?;
    let json = |part: &str| -> Result<Value, String> {
        serde_json::from_slice(&decode(part)?).map_err(|e| format!("JSON: {e}"))
    };
    let (header, claims) = (json(header)?, json(claims)?);
    if header["alg"] != algorithm.name() || header["typ"] != "JWT" || header["kid"] != "test-kid" {
        return Err(format!("wrong header {header}"));
    }
    if claims["iss"] != "courier-test" || claims["sub"] != "courier-test" {
        return Err("iss and sub are not the client id".into());
    }
    if claims["aud"] != aud {
        return Err(format!("aud {} is not {aud}", claims["aud"]));
    }
    let now = chrono::Utc::now().timestamp();
    let exp = claims["exp"].as_i64().ok_or("no exp")?;
    if exp <= now || exp > now + 300 {
        return Err(format!(
            "exp is {} s from now, not within 5 minutes",
            exp - now
        ));
    }
    let iat = claims["iat"].as_i64().ok_or("no iat")?;
    if iat > now + 5 || iat < now - 60 {
        return Err("iat is not now".into());
    }
    claims["jti"]
        .as_str()
        .filter(|jti| jti.len() >= 16)
        .map(str::to_owned)
        .ok_or_else(|| "no jti of at least 16 characters".into())
}
