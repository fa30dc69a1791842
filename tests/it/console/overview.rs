//! The console's overview lists the running connections and destinations, narrows them by
//! search, and opens a connection (pause and resume from its page) and a destination.

use courier::status::ConnectionState;

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
