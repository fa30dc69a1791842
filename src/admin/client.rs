//! A client of a running instance's admin API, for CLI commands (`courier status`, …): the
//! base URL from `--admin`, the configuration or the default, the token from
//! [`TOKEN_ENV`].

use std::time::Duration;

use serde_json::Value;

use std::net::SocketAddr;
use std::path::Path;

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

    /// The base URL a CLI command uses: `--admin` if given, else `listen` (the
    /// configuration's `admin.listen`; an unspecified address becomes loopback), else
    /// [`DEFAULT_URL`].
    pub fn base_url(flag: Option<&str>, listen: Option<SocketAddr>) -> String {
        if let Some(url) = flag {
            return url.to_owned();
        }
        match listen {
            Some(mut addr) => {
                if addr.ip().is_unspecified() {
                    addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
                }
                format!("http://{addr}")
            }
            None => DEFAULT_URL.to_owned(),
        }
    }

    /// `admin.listen` of the configuration file at `path`, read without validating the rest
    /// (so a CLI command needs none of the service's secrets); `None` when it is not set.
    pub fn listen_in(path: &Path) -> Result<Option<SocketAddr>, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read the file: {e}", path.display()))?;
        let table: toml::Table = toml::from_str(&text)
            .map_err(|e| format!("{}: invalid TOML: {}", path.display(), e.message()))?;
        let Some(listen) = table.get("admin").and_then(|admin| admin.get("listen")) else {
            return Ok(None);
        };
        listen
            .as_str()
            .and_then(|text| text.parse().ok())
            .map(Some)
            .ok_or_else(|| format!("{}: admin.listen: not an address and port", path.display()))
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

#[cfg(test)]
mod tests {
    use super::{AdminClient, DEFAULT_URL};

    #[test]
    fn the_base_url_comes_from_the_flag_then_the_file_then_the_default() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("courier.toml");
        // Nothing else of the file is read: no secret is needed to find the admin API.
        std::fs::write(
            &path,
            "[store]\npath = 1\n[admin]\nlisten = \"0.0.0.0:9555\"\n",
        )
        .unwrap();
        let listen = AdminClient::listen_in(&path).unwrap();
        assert_eq!(AdminClient::base_url(None, listen), "http://127.0.0.1:9555");
        assert_eq!(
            AdminClient::base_url(Some("http://h:1"), listen),
            "http://h:1"
        );
        std::fs::write(&path, "[store]\npath = \"x\"\n").unwrap();
        let unset = AdminClient::listen_in(&path).unwrap();
        assert_eq!(AdminClient::base_url(None, unset), DEFAULT_URL);
        std::fs::write(&path, "[admin]\nlisten = \"nowhere\"\n").unwrap();
        let problem = AdminClient::listen_in(&path).unwrap_err();
        assert!(
            problem.ends_with("admin.listen: not an address and port"),
            "{problem}"
        );
    }
}
