//! Headless Chromium driven over W3C WebDriver, for tests that look at the console the way an
//! operator does: a real browser runs the page's scripts under its Content-Security-Policy,
//! so what passes here works in a browser, not only in a JSON client.
//!
//! - [`driver`]: the `chromedriver` process on a free loopback port, killed on drop (a panicking
//!   test included), with Chromium's session quit first.
//! - [`session`]: the WebDriver commands a test needs (navigate, find, click, type, read,
//!   execute script, cookies, screenshots) and waits on conditions with a deadline.
//!
//! Chromium and ChromeDriver come from Debian's `chromium` and `chromium-driver` packages;
//! without them [`Browser::start`] says so instead of failing obscurely.

pub mod driver;
pub mod session;

pub use session::{Browser, Element};

/// Where Debian's `chromium` package puts the browser.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// Where Debian's `chromium-driver` package puts ChromeDriver.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Why the browser could not do what a test asked; each says what to look at.
#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    /// Chromium or ChromeDriver is not installed.
    #[error("{0} is missing: install Debian chromium and chromium-driver; .ci/run does")]
    Missing(&'static str),
    /// ChromeDriver could not be started.
    #[error("chromedriver did not start: {0}")]
    Start(#[source] std::io::Error),
    /// ChromeDriver started but never said it was ready.
    #[error("chromedriver on port {0} was not ready within its deadline")]
    NotReady(u16),
    /// The request to ChromeDriver failed on the way (a closed port, a broken answer).
    #[error("{command}: {reason}")]
    Transport {
        /// The WebDriver command, `METHOD path`.
        command: String,
        /// What went wrong.
        reason: String,
    },
    /// ChromeDriver answered the command with a WebDriver error.
    #[error("{command}: {error}: {message}")]
    WebDriver {
        /// The WebDriver command, `METHOD path`.
        command: String,
        /// The WebDriver error code (`no such element`, `invalid selector`…).
        error: String,
        /// ChromeDriver's explanation.
        message: String,
    },
    /// A waited-for condition did not come true in time.
    #[error("timed out after {patience:?} waiting for {what}; the page said: {page}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        patience: std::time::Duration,
        /// The start of the page's visible text then, to show what was there instead.
        page: String,
    },
    /// A screenshot could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}
