//! The console in a real headless Chromium: its pages run their scripts under the admin
//! API's Content-Security-Policy against the real app, simulated EHR and receiver, and what
//! an operator does there reaches the receiver. Each test saves screenshots of its pages under
//! `target/console-screenshots/`.

use courier::admin::AdminServer;
use courier::app::AppOptions;
use courier_browser::{Browser, BrowserError};
use courier_sim::SimEhrOptions;

use crate::support::admin::start_admin;
use crate::support::app::{spawn_app_with, ConnectionSpec, TestApp};

mod operations;
mod overview;
mod security;

/// The browser tests' result: a WebDriver failure or a timeout says what the page showed.
type Checked = Result<(), BrowserError>;

/// A headless Chromium on the console's page `route` (a hash route such as `#/replay`).
async fn console(admin: &AdminServer, route: &str) -> Result<Browser, BrowserError> {
    console_at(&admin.url(), route).await
}

/// [`console`] of the admin API at `url`.
async fn console_at(url: &str, route: &str) -> Result<Browser, BrowserError> {
    let browser = Browser::start().await?;
    browser.goto(&format!("{url}/console/{route}")).await?;
    Ok(browser)
}

/// The `data-id` of every row `css` selects, in the page's order.
async fn row_ids(browser: &Browser, css: &str) -> Result<Vec<String>, BrowserError> {
    let script =
        "return Array.from(document.querySelectorAll(arguments[0])).map(r => r.dataset.id);";
    let ids = browser.execute(script, serde_json::json!([css])).await?;
    Ok(serde_json::from_value(ids).unwrap_or_default())
}

/// Courier with connections `ids` on one EHR, destination lines `destination_extra`, and its
/// admin API without a token (loopback).
async fn app_with(ids: &[&str], destination_extra: &str) -> (TestApp, AdminServer) {
    let t = spawn_app_with(
        SimEhrOptions::default(),
        AppOptions::default(),
        destination_extra,
        |ehr| ids.iter().map(|id| ConnectionSpec::new(id, ehr)).collect(),
    )
    .await;
    let admin = start_admin(&t, None);
    (t, admin)
}
