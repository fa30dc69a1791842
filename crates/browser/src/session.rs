//! One headless Chromium session and the WebDriver commands tests use. Every wait looks at
//! the page again until its condition holds or the patience runs out; none sleeps blindly.

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use courier_sim::wait::until;
use serde_json::{json, Value};

use crate::driver::Driver;
use crate::{BrowserError, CHROMIUM};

/// The key under which WebDriver names an element in its answers.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// WebDriver errors of a click that a later look may not meet: the element was redrawn,
/// or is not (yet) visible or uncovered.
const NOT_YET: &[&str] = &[
    "stale element reference",
    "element not interactable",
    "element click intercepted",
];

/// How often a wait looks at the page again.
const LOOK_EVERY: Duration = Duration::from_millis(50);

/// Chromium's flags: headless, and quiet on a machine without network (without the
/// background-networking flags it keeps trying to reach Google's services).
const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
];

/// A headless Chromium with one window, driven by its own ChromeDriver. Dropping it quits
/// the browser and kills the driver.
pub struct Browser {
    /// The session's id.
    session: String,
    /// Talks to the driver.
    client: awc::Client,
    /// How long a wait waits.
    patience: Duration,
    /// Chromium's profile, a fresh empty one (no cookies from another run).
    _profile: tempfile::TempDir,
    /// Declared last: dropped after the session was quit in [`Drop`].
    driver: Driver,
}

/// An element of the page, found by a CSS selector.
pub struct Element<'a> {
    browser: &'a Browser,
    id: String,
}

impl Browser {
    /// Starts ChromeDriver and a headless Chromium with a fresh profile; waits have ten
    /// seconds of patience.
    pub async fn start() -> Result<Self, BrowserError> {
        let driver = Driver::start().await?;
        let profile = tempfile::tempdir().map_err(BrowserError::Start)?;
        let mut args: Vec<String> = FLAGS.iter().map(|f| (*f).to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
        }}});
        let client = awc::Client::builder()
            .timeout(Duration::from_secs(60))
            .finish();
        let url = format!("{}/session", driver.url());
        let value = send(&client, "POST", &url, Some(capabilities)).await?;
        let session = value["sessionId"].as_str().unwrap_or_default().to_owned();
        Ok(Self {
            session,
            client,
            patience: Duration::from_secs(10),
            _profile: profile,
            driver,
        })
    }

    /// The same browser with waits of `patience` instead.
    pub fn with_patience(mut self, patience: Duration) -> Self {
        self.patience = patience;
        self
    }

    /// Sends one WebDriver command of this session (`path` after `/session/{id}`) and
    /// returns the answer's `value`.
    pub async fn command(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, BrowserError> {
        let url = format!("{}/session/{}{path}", self.driver.url(), self.session);
        send(&self.client, method, &url, body).await
    }

    /// Opens `url` and waits until it has loaded.
    pub async fn goto(&self, url: &str) -> Result<(), BrowserError> {
        self.command("POST", "/url", Some(json!({ "url": url })))
            .await
            .map(drop)
    }

    /// The address the window shows now (after redirects and hash changes).
    pub async fn url(&self) -> Result<String, BrowserError> {
        let value = self.command("GET", "/url", None).await?;
        Ok(value.as_str().unwrap_or_default().to_owned())
    }

    /// Runs `script` (a function body; `arguments[i]` are `args`) in the page and returns
    /// what it returns.
    pub async fn execute(&self, script: &str, args: Value) -> Result<Value, BrowserError> {
        let body = json!({ "script": script, "args": args });
        self.command("POST", "/execute/sync", Some(body)).await
    }

    /// Every element `css` selects now.
    pub async fn find_all(&self, css: &str) -> Result<Vec<Element<'_>>, BrowserError> {
        let body = json!({ "using": "css selector", "value": css });
        let found = self.command("POST", "/elements", Some(body)).await?;
        let found = found.as_array().cloned().unwrap_or_default();
        Ok(found.iter().filter_map(|e| self.element(e)).collect())
    }

    /// Waits until `css` selects an element, and returns the first.
    pub async fn wait_for(&self, css: &str) -> Result<Element<'_>, BrowserError> {
        self.wait_for_text(css, "").await
    }

    /// Waits until an element `css` selects shows `text` (in its visible text), and returns
    /// the first that does.
    pub async fn wait_for_text(&self, css: &str, text: &str) -> Result<Element<'_>, BrowserError> {
        let script = "return Array.from(document.querySelectorAll(arguments[0]))\
                      .find(e => e.innerText.includes(arguments[1])) || null;";
        let args = json!([css, text]);
        let found = self
            .wait_until(&format!("{css} showing {text:?}"), || async {
                let found = self.execute(script, args.clone()).await;
                found.map(|value| self.element(&value)).transpose()
            })
            .await?;
        Ok(found)
    }

    /// Waits until `css` selects nothing (a dialog closed, a row removed).
    pub async fn wait_for_none(&self, css: &str) -> Result<(), BrowserError> {
        self.wait_until(&format!("no {css}"), || async {
            let found = self.find_all(css).await;
            found.map(|all| all.is_empty().then_some(())).transpose()
        })
        .await
    }

    /// Waits until `probe` answers `Some` (or fails), looking every 50 ms; a timeout names
    /// `what` and the start of what the page showed instead.
    pub async fn wait_until<T, F>(
        &self,
        what: &str,
        probe: impl FnMut() -> F,
    ) -> Result<T, BrowserError>
    where
        F: std::future::Future<Output = Option<Result<T, BrowserError>>>,
    {
        let found = until(self.patience, LOOK_EVERY, probe).await;
        match found {
            Some(found) => found,
            None => Err(BrowserError::Timeout {
                what: what.to_owned(),
                patience: self.patience,
                page: self.page_text().await,
            }),
        }
    }

    /// Waits for `css`, then clicks it; looks again when the page redrew it between the
    /// look and the click, or while it cannot take a click yet (hidden, covered).
    pub async fn click(&self, css: &str) -> Result<(), BrowserError> {
        self.wait_until(&format!("{css} to take a click"), || async {
            let first = self.find_all(css).await.map(|all| all.into_iter().next());
            let element = match first {
                Ok(element) => element?,
                Err(err) => return Some(Err(err)),
            };
            match element.click().await {
                Err(BrowserError::WebDriver { error, .. }) if NOT_YET.contains(&error.as_str()) => {
                    None
                }
                clicked => Some(clicked),
            }
        })
        .await
    }

    /// Waits for the field `css`, empties it, and types `text` into it.
    pub async fn type_into(&self, css: &str, text: &str) -> Result<(), BrowserError> {
        let field = self.wait_for(css).await?;
        field.clear().await?;
        field.type_text(text).await
    }

    /// The visible text of the first element `css` selects, once there is one.
    pub async fn text(&self, css: &str) -> Result<String, BrowserError> {
        self.wait_for(css).await?.text().await
    }

    /// The page's cookies, as WebDriver gives them (`name`, `value`, `httpOnly`…).
    pub async fn cookies(&self) -> Result<Vec<Value>, BrowserError> {
        let all = self.command("GET", "/cookie", None).await?;
        Ok(all.as_array().cloned().unwrap_or_default())
    }

    /// Sets a cookie `name=value` on the page's site.
    pub async fn set_cookie(&self, name: &str, value: &str) -> Result<(), BrowserError> {
        let body = json!({ "cookie": { "name": name, "value": value } });
        self.command("POST", "/cookie", Some(body)).await.map(drop)
    }

    /// Saves what the window shows as `<target>/console-screenshots/<name>.png` and returns
    /// the path.
    pub async fn screenshot(&self, name: &str) -> Result<PathBuf, BrowserError> {
        let encoded = self.command("GET", "/screenshot", None).await?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().unwrap_or_default())
            .map_err(|err| BrowserError::Transport {
                command: "GET /screenshot".into(),
                reason: err.to_string(),
            })?;
        let dir = screenshot_dir();
        let path = dir.join(format!("{name}.png"));
        let write = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, png));
        write.map_err(|source| BrowserError::Write {
            path: path.display().to_string(),
            source,
        })?;
        Ok(path)
    }

    /// The start of the page's visible text (for a timeout's message), or why it is unknown.
    async fn page_text(&self) -> String {
        let script = "return document.body ? document.body.innerText.slice(0, 600) : '';";
        match self.execute(script, json!([])).await {
            Ok(text) => text.as_str().unwrap_or_default().replace('\n', " | "),
            Err(err) => format!("(unreadable: {err})"),
        }
    }

    fn element(&self, value: &Value) -> Option<Element<'_>> {
        let id = value.get(ELEMENT_KEY)?.as_str()?.to_owned();
        Some(Element { browser: self, id })
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.driver.quit_blocking(&self.session);
    }
}

impl Element<'_> {
    /// Clicks it (scrolled into view first by the driver).
    pub async fn click(&self) -> Result<(), BrowserError> {
        self.command("POST", "click", Some(json!({})))
            .await
            .map(drop)
    }

    /// Its visible text.
    pub async fn text(&self) -> Result<String, BrowserError> {
        let text = self.command("GET", "text", None).await?;
        Ok(text.as_str().unwrap_or_default().to_owned())
    }

    /// A DOM property (`value` of a field, `disabled`…), `null` when it has none.
    pub async fn property(&self, name: &str) -> Result<Value, BrowserError> {
        self.command("GET", &format!("property/{name}"), None).await
    }

    /// Types `text` into it, as keystrokes.
    pub async fn type_text(&self, text: &str) -> Result<(), BrowserError> {
        let body = json!({ "text": text });
        self.command("POST", "value", Some(body)).await.map(drop)
    }

    /// Empties a field.
    pub async fn clear(&self) -> Result<(), BrowserError> {
        self.command("POST", "clear", Some(json!({})))
            .await
            .map(drop)
    }

    async fn command(
        &self,
        method: &str,
        what: &str,
        body: Option<Value>,
    ) -> Result<Value, BrowserError> {
        let path = format!("/element/{}/{what}", self.id);
        self.browser.command(method, &path, body).await
    }
}

/// `target/console-screenshots`, under `CARGO_TARGET_DIR` when it is set, otherwise under
/// the workspace's `target`.
fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../target")));
    target.join("console-screenshots")
}

/// Sends `method url` with a JSON `body` to the driver and unwraps WebDriver's answer.
async fn send(
    client: &awc::Client,
    method: &str,
    url: &str,
    body: Option<Value>,
) -> Result<Value, BrowserError> {
    let command = format!(
        "{method} {}",
        url.split_once("/session").map_or(url, |(_, p)| p)
    );
    let transport = |reason: String| BrowserError::Transport {
        command: command.clone(),
        reason,
    };
    let request = match method {
        "GET" => client.get(url),
        "DELETE" => client.delete(url),
        _ => client.post(url),
    };
    let sent = match body {
        Some(body) => request.send_json(&body).await,
        None => request.send().await,
    };
    let mut response = sent.map_err(|err| transport(err.to_string()))?;
    let body = response.body().limit(64 << 20).await;
    let body = body.map_err(|err| transport(err.to_string()))?;
    let answer: Value =
        serde_json::from_slice(&body).map_err(|err| transport(format!("not JSON: {err}")))?;
    let value = answer.get("value").cloned().unwrap_or(Value::Null);
    match value.get("error").and_then(Value::as_str) {
        Some(error) if !response.status().is_success() => Err(BrowserError::WebDriver {
            command,
            error: error.to_owned(),
            message: value["message"].as_str().unwrap_or_default().to_owned(),
        }),
        _ => Ok(value),
    }
}
