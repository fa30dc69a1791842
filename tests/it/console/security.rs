//! The console's security as a browser meets it: with a token configured, a visit is sent to
//! the sign-in form, a wrong token is refused, a signed-in operator works (actions included,
//! with the page's CSRF header) until signing out; and a body view is logged by id and
//! viewer, never with the body.

use courier::status::ConnectionState;
use courier_browser::Browser;
use courier_sim::SimEhrOptions;

use super::{console, console_at, Checked};
use crate::support::admin::start_admin;
use crate::support::app::{eventually, spawn_app, PATIENCE};
use crate::support::process::Rig;

/// The Enter key, as WebDriver types it: submits the form of the focused field.
const ENTER: &str = "\u{E007}";

/// Fills the sign-in form with `token` and `name` and submits it.
async fn sign_in(browser: &Browser, token: &str, name: &str) -> Checked {
    browser.type_into("input[name=token]", token).await?;
    browser.type_into("input[name=name]", name).await?;
    browser
        .wait_for("input[name=name]")
        .await?
        .type_text(ENTER)
        .await
}

/// Waits until the window shows a path ending in `end`.
async fn at(browser: &Browser, end: &str) -> Checked {
    browser
        .wait_until(&format!("the address to end in {end}"), || async {
            let url = browser.url().await;
            url.map(|url| url.ends_with(end).then_some(())).transpose()
        })
        .await
}

#[actix_rt::test]
async fn a_visit_needs_the_token_and_a_signed_in_operator_can_act_until_signing_out() -> Checked {
    let t = spawn_app(SimEhrOptions::default(), |c| c).await;
    let admin = start_admin(&t, Some("console-test-token"));
    let browser = console(&admin, "").await?;
    at(&browser, "/console/sign-in").await?;
    browser.screenshot("sign-in").await?;

    sign_in(&browser, "not-the-token", "Dana Operator").await?;
    browser
        .wait_for_text("body", "That token is not right.")
        .await?;
    let cookies = browser.cookies().await?;
    assert!(
        cookies.iter().all(|c| c["name"] != "courier_session"),
        "{cookies:?}"
    );

    sign_in(&browser, "console-test-token", "Dana Operator").await?;
    browser
        .wait_for_text("[data-test=viewer]", "Dana Operator")
        .await?;
    at(&browser, "/console/").await?;
    let cookies = browser.cookies().await?;
    let session = cookies.iter().find(|c| c["name"] == "courier_session");
    let session = session.unwrap_or_else(|| panic!("no session cookie: {cookies:?}"));
    assert_eq!(session["httpOnly"], true);
    assert_eq!(session["sameSite"], "Strict");
    browser
        .wait_for_text("[data-test=connection-row]", "clinic-a")
        .await?;
    // An action: the page sends the session's CSRF token, so the pause goes through.
    browser.click("a[href='#/connections/clinic-a']").await?;
    browser.click("[data-test=pause]").await?;
    eventually("clinic-a paused from the page", PATIENCE, || {
        t.connection("clinic-a").state == ConnectionState::Paused
    })
    .await;

    browser.click("#sign-out").await?;
    at(&browser, "/console/sign-in").await?;
    browser.goto(&format!("{}/console/", admin.url())).await?;
    at(&browser, "/console/sign-in").await?;
    Ok(())
}

/// Written into every simulated patient's names and MRN: must never reach the log.
const MARKER: &str = "ZqConsoleMarker9";

#[actix_rt::test]
async fn a_body_shown_in_the_console_is_logged_by_id_and_viewer_without_the_body() -> Checked {
    let mut rig = Rig::new(SimEhrOptions::default(), "");
    rig.log_filter = "courier=info,warn";
    rig.ehr.mark_phi(MARKER);
    let courier = rig.start();
    let url = rig.admin_url().await;
    rig.ehr.touch("appt-1");
    eventually("appt-1 delivered", PATIENCE, || rig.delivered() == 1).await;
    let id = rig.receiver.accepted()[0].id.clone();

    let browser = console_at(&url, "#/notifications?key=appt-1&connection=clinic-a").await?;
    let row = browser.wait_for_text("[data-test=match-row]", &id).await?;
    let listed = row.text().await?;
    assert!(!listed.contains(MARKER), "no body before a click: {listed}");
    browser.screenshot("notifications").await?;
    browser.click("[data-test=show-body]").await?;
    browser
        .wait_for_text("[data-test=body]", &format!("MRN-{MARKER}"))
        .await?;
    browser.screenshot("notification-body").await?;

    let line = format!("body viewed: notif={id} conn=clinic-a seq=");
    eventually("the body view logged", PATIENCE, || {
        rig.log_text().contains(&line)
    })
    .await;
    courier.stop().await;
    let logs = rig.log_text();
    let viewed = logs.lines().find(|l| l.contains(&line)).unwrap();
    assert!(viewed.contains("loopback"), "the viewer is named: {viewed}");
    let marked: Vec<&str> = logs.lines().filter(|l| l.contains(MARKER)).collect();
    assert!(
        marked.is_empty(),
        "log lines with patient data: {marked:#?}"
    );
    Ok(())
}
