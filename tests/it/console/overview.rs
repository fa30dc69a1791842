//! The console's overview lists the running connections and destinations, narrows them by
//! search, and opens a connection (pause and resume from its page) and a destination.

use std::time::Instant;

use courier::status::ConnectionState;
use courier_browser::Browser;
use serde_json::json;

use super::{app_with, console, row_ids, Checked};
use crate::support::app::{eventually, PATIENCE};

#[actix_rt::test]
async fn the_overview_lists_the_running_connections_and_opens_each_one() -> Checked {
    let (t, admin) = app_with(&["clinic-a", "clinic-b"], "").await;
    t.ehr.touch("appt-1");
    assert!(t.receiver.wait_for_distinct(2, PATIENCE).await);

    let browser = console(&admin, "#/").await?;
    let rows = "[data-test=connection-row]";
    browser.wait_for_text(rows, "clinic-a").await?;
    browser.wait_for_text(rows, "clinic-b").await?;
    browser
        .wait_for_text("[data-test=destination-row]", "app")
        .await?;
    browser.wait_for_text("#overview-shown", "1–2 of 2").await?;
    assert_eq!(row_ids(&browser, rows).await?, ["clinic-a", "clinic-b"]);
    browser.screenshot("overview").await?;

    browser.type_into("#overview-search", "clinic-b").await?;
    browser
        .wait_until("only clinic-b listed", || async {
            let ids = row_ids(&browser, rows).await;
            ids.map(|ids| (ids == ["clinic-b"]).then_some(()))
                .transpose()
        })
        .await?;

    browser.click("a[href='#/connections/clinic-b']").await?;
    browser.wait_for_text("#connection", "Cursor").await?;
    browser.wait_for("[data-test=poll-row]").await?;
    browser
        .wait_for_text("[data-test=notification-row]", "appt-1")
        .await?;
    browser.screenshot("connection").await?;
    browser.click("[data-test=pause]").await?;
    browser.wait_for_text("#connection dl", "paused").await?;
    assert_eq!(t.connection("clinic-b").state, ConnectionState::Paused);
    browser.click("[data-test=resume]").await?;
    eventually("clinic-b polls again", PATIENCE, || {
        t.connection("clinic-b").state != ConnectionState::Paused
    })
    .await;

    browser
        .click("#connection a[href='#/destinations/app']")
        .await?;
    browser.wait_for_text("#destination", "Health").await?;
    browser
        .wait_for_text("[data-test=attempt-row]", "200")
        .await?;
    browser.screenshot("destination").await?;
    Ok(())
}

#[actix_rt::test]
async fn the_overview_of_ten_thousand_connections_draws_one_page_and_refreshes_it_in_place(
) -> Checked {
    let (t, admin) = app_with(&["clinic-a"], "").await;
    crate::support::admin::crowd_board(t.app.board());

    let browser = Browser::start().await?;
    let started = Instant::now();
    browser.goto(&format!("{}/console/#/", admin.url())).await?;
    let loaded = started.elapsed();
    let rows = "[data-test=connection-row]";
    browser.wait_for_text(rows, "bulk-04242").await?;
    let drawn = started.elapsed();
    // Within the loaded console (scripts compiled, browser warm): away and back.
    browser.click("nav a[href='#/replay']").await?;
    browser.wait_for_none(rows).await?;
    let again = Instant::now();
    browser.click("nav a[href='#/']").await?;
    browser.wait_for_text(rows, "bulk-04242").await?;
    let redrawn = again.elapsed();
    eprintln!(
        "console overview of 10,001 connections: page loaded in {loaded:?}, first 100 rows \
         drawn {drawn:?} after navigating; opened again from the menu in {redrawn:?}"
    );
    browser
        .wait_for_text("#overview-shown", "1–100 of 10,001")
        .await?;
    let ids = row_ids(&browser, rows).await?;
    assert_eq!(ids.len(), 100, "one page of rows, not 10,001");
    assert_eq!(ids[0], "bulk-04242", "trouble first");
    browser.screenshot("overview-10000").await?;

    // The next refresh rewrites the same row elements: mark the first, clear the trouble,
    // and the marked row shows the new first connection.
    let mark = "document.querySelector(arguments[0]).dataset.mark = 'first'; return null;";
    browser.execute(mark, json!([rows])).await?;
    t.app
        .board()
        .connection("bulk-04242", |c| c.last_error = None);
    browser
        .wait_for_text("tr[data-mark=first]", "bulk-00000")
        .await?;
    browser.click("#overview-next").await?;
    browser
        .wait_for_text("#overview-shown", "101–200 of 10,001")
        .await?;
    Ok(())
}
