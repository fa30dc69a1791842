//! What an operator does from the console reaches the receiver: a dead letter retried from
//! its page, one purged after the page's confirmation, a replay started from the form.

use super::{app_with, console, Checked};
use crate::support::app::{eventually_async, PATIENCE};

#[actix_rt::test]
async fn a_dead_letter_retried_from_its_page_is_delivered_and_a_purged_one_never_is() -> Checked {
    // One retry, then the dead letters; a threshold never reached, so nothing is probed.
    let schedule = "retry_schedule_secs = [0.05]\nfailure_threshold = 100000\n";
    let (t, admin) = app_with(&["clinic-a"], schedule).await;
    t.receiver.always(400);
    t.ehr.touch("appt-1");
    t.ehr.touch("appt-2");
    eventually_async("two dead letters", PATIENCE, async || {
        t.app.store().dead_letters().await.unwrap().len() == 2
    })
    .await;
    let letters = t.app.store().dead_letters().await.unwrap();
    let retried = letters.iter().find(|l| l.sequence == 2).unwrap();
    let purged = letters.iter().find(|l| l.sequence == 1).unwrap();

    let browser = console(&admin, "#/dead-letters").await?;
    browser
        .wait_for_text("[data-test=dead-letter-row]", &retried.notification_id)
        .await?;
    browser
        .wait_for_text("[data-test=dead-letter-row]", &purged.notification_id)
        .await?;
    browser.screenshot("dead-letters").await?;
    let link = format!("a[href='#/dead-letters/{}']", retried.notification_id);
    browser.click(&link).await?;
    browser.wait_for_text("#dead-letter", "clinic-a").await?;
    let attempts = browser.find_all("[data-test=dead-letter-attempt]").await?;
    assert_eq!(attempts.len(), 2, "the first attempt and one retry");
    let first = attempts[0].text().await?;
    assert!(first.contains("400"), "{first}");
    let page = browser.text("main").await?;
    assert!(
        !page.contains("appt-2"),
        "no body (patient data) before a click: {page}"
    );
    browser.screenshot("dead-letter").await?;

    t.receiver.always(200);
    browser.click("[data-test=retry]").await?;
    browser
        .wait_for_text("[data-test=dead-letter-outcome]", "Sent back to delivery")
        .await?;
    assert!(t.receiver.wait_for_accepted(1, PATIENCE).await);
    let received = &t.receiver.accepted()[0];
    assert_eq!(received.id, retried.notification_id, "the original id");
    assert_eq!(received.json["data"]["key"], "appt-2");
    assert!(received.verified);

    // The other one: purged after the page's own confirmation, and never sent.
    let other = format!("#/dead-letters/{}", purged.notification_id);
    browser
        .goto(&format!("{}/console/{other}", admin.url()))
        .await?;
    browser.click("[data-test=purge]").await?;
    browser
        .wait_for_text("[data-test=confirm]", "for good")
        .await?;
    browser.screenshot("dead-letter-purge").await?;
    browser.click("[data-test=confirm-yes]").await?;
    browser
        .wait_for_text("[data-test=dead-letter-outcome]", "Purged")
        .await?;
    assert!(t.app.store().dead_letters().await.unwrap().is_empty());
    t.ehr.touch("appt-3");
    assert!(t.receiver.wait_for_accepted(2, PATIENCE).await);
    let keys: Vec<_> = t
        .receiver
        .accepted()
        .iter()
        .map(|r| r.json["data"]["key"].clone())
        .collect();
    assert_eq!(
        keys,
        ["appt-2", "appt-3"],
        "the purged appt-1 never went out"
    );
    Ok(())
}

#[actix_rt::test]
async fn a_replay_started_from_the_form_shows_its_progress_and_completes() -> Checked {
    let (t, admin) = app_with(&["clinic-a"], "").await;
    let since = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    for record in ["appt-1", "appt-2", "appt-3"] {
        t.ehr.touch(record);
    }
    assert!(t.receiver.wait_for_distinct(3, PATIENCE).await);
    eventually_async("three retained", PATIENCE, async || {
        t.app.store().pending_count() == 0 && t.app.store().retained_count().await.unwrap() == 3
    })
    .await;
    let original: std::collections::BTreeSet<_> = t
        .receiver
        .received()
        .into_iter()
        .map(|r| (r.id, r.body))
        .collect();
    let before = t.receiver.received().len();

    let browser = console(&admin, "#/replay").await?;
    browser.type_into("#replay-destination", "app").await?;
    browser.type_into("#replay-since", &since).await?;
    browser.screenshot("replay-form").await?;
    browser.click("#replay-submit").await?;
    browser.wait_for("#replay-progress").await?;
    browser
        .wait_for_text("[data-test=replay-state]", "finished")
        .await?;
    let figures = browser.text("[data-test=replay-figures]").await?;
    assert_eq!(figures, "3 sent, 0 failed, 0 skipped of 3");
    let bar = browser.wait_for("#replay-bar").await?;
    assert_eq!(bar.property("value").await?, 3.0);
    browser.screenshot("replay").await?;
    let replayed: std::collections::BTreeSet<_> = t
        .receiver
        .received()
        .into_iter()
        .skip(before)
        .map(|r| (r.id, r.body))
        .collect();
    assert_eq!(replayed, original, "the same ids and bodies again");
    Ok(())
}
