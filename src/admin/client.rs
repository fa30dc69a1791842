//! A client of a running instance's admin API, for CLI commands (`courier status`, …): the
//! base URL from `--admin`, the configuration or the default, the token from
//! [`TOKEN_ENV`].

use std::time::Duration;

use serde_json::Value;

use crate::config::Config;

/// The environment variable CLI commands read the admin bearer token from.
pub const TOKEN_ENV: &str = "COURIER_ADMIN_TOKEN";
/// Where CLI commands look for the admin API when neither `--admin` nor a configuration says.
pub const DEFAULT_URL: &str = "http://127.0.0.1:9464";
/// How long a CLI command waits for an answer.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Why an admin request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No answer (nothing listening, a timeout).
    #[error("cannot reach the admin API at {url}: {reason}")]
    Unreachable {
        /// What was asked.
        url: String,
        /// Why not.
        reason: String,
    },
    /// The API answered with an error.
    #[error("{url} answered {status}: {message}")]
    Status {
        /// What was asked.
        url: String,
        /// The status code.
        status: u16,
        /// The API's `error` text, or the body.
        message: String,
    },
}

/// An admin API client; use it inside an actix `System`.
pub struct AdminClient {
    base: String,
    token: Option<String>,
    http: awc::Client,
}

impl AdminClient {
    /// A client of the API at `base` (such as `http://127.0.0.1:9464`), sending `token` as a
    /// bearer token when set.
    pub fn new(base: &str, token: Option<String>) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            token,
            http: awc::Client::builder().timeout(TIMEOUT).finish(),
        }
    }

    /// The base URL a CLI command uses: `--admin` if given, else the configuration's
    /// `admin.listen` (an unspecified address becomes loopback), else [`DEFAULT_URL`].
    pub fn base_url(flag: Option<&str>, config: Option<&Config>) -> String {
        if let Some(url) = flag {
            return url.to_owned();
        }
        match config {
            Some(config) => {
                let mut addr = config.admin.listen;
                if addr.ip().is_unspecified() {
                    addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
                }
                format!("http://{addr}")
            }
            None => DEFAULT_URL.to_owned(),
        }
    }

    /// GETs `path` and parses its JSON answer.
    pub async fn get(&self, path: &str) -> Result<Value, ClientError> {
        self.send(self.http.get(self.url(path)), path).await
    }

    /// POSTs to `path` (no body) and parses its JSON answer.
    pub async fn post(&self, path: &str) -> Result<Value, ClientError> {
        self.send(self.http.post(self.url(path)), path).await
    }

    /// POSTs `body` as JSON to `path` and parses its JSON answer.
    pub async fn post_json(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        let request = self.http.post(self.url(path));
        let request = request.insert_header(("content-type", "application/json"));
        self.send_body(request, path, serde_json::to_vec(body).unwrap_or_default())
            .await
    }

    /// DELETEs `path` and parses its JSON answer.
    pub async fn delete(&self, path: &str) -> Result<Value, ClientError> {
        self.send(self.http.delete(self.url(path)), path).await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn send(&self, request: awc::ClientRequest, path: &str) -> Result<Value, ClientError> {
        self.send_body(request, path, Vec::new()).await
    }

    async fn send_body(
        &self,
        request: awc::ClientRequest,
        path: &str,
        body: Vec<u8>,
    ) -> Result<Value, ClientError> {
        let request = match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        let url = self.url(path);
        let unreachable = |reason: String| ClientError::Unreachable {
            url: url.clone(),
            reason,
        };
        let mut response = request
            .send_body(body)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let body = response
            .body()
            .limit(16 << 20)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let json: Option<Value> = serde_json::from_slice(&body).ok();
        let status = response.status();
        match json {
            Some(json) if status.is_success() => Ok(json),
            json => Err(ClientError::Status {
                url: url.clone(),
                status: status.as_u16(),
                message: json
                    .as_ref()
                    .and_then(|j| j["error"].as_str())
                    .map(str::to_owned)
                    .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned()),
            }),
        }
    }
}
