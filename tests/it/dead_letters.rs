//! Dead letters an operator acts on through the admin API and `courier dlq`: a notification
//! the receiver refused until its retry schedule ran out comes back, after a retry, with its
//! original id and sequence; a purge deletes dead letters for good.

use actix_web::http::StatusCode;
use courier::admin::AdminServer;
use courier::app::AppOptions;
use courier_sim::SimEhrOptions;
use serde_json::Value;

use crate::support::admin::{call, courier_cli, get, post, start_admin};
use crate::support::app::{
    eventually, eventually_async, spawn_app_with, ConnectionSpec, TestApp, PATIENCE,
};

/// One retry 50 ms after the first attempt, then the dead letters; and a failure threshold
/// the test never reaches: a receiver that refuses every notification is otherwise judged
/// down (failing), and a failing destination is probed, never dead-lettered.
const SHORT_SCHEDULE: &str = "retry_schedule_secs = [0.05]\nfailure_threshold = 100000\n";

/// Courier (with its admin API) whose receiver refuses everything permanently (400).
async fn refusing_receiver() -> (TestApp, AdminServer) {
    let t = spawn_app_with(
        SimEhrOptions::default(),
        AppOptions::default(),
        SHORT_SCHEDULE,
        |ehr| vec![ConnectionSpec::new("clinic-a", ehr)],
    )
    .await;
    t.receiver.always(400);
    let admin = start_admin(&t, None);
    (t, admin)
}

/// The dead letters the API at `url` lists (every page, two at a time), once there are `n`.
async fn listed(t: &TestApp, url: &str, n: usize) -> Vec<Value> {
    let count = async || t.app.store().dead_letters().await.unwrap().len();
    eventually_async(&format!("{n} dead letters"), PATIENCE, async || {
        count().await == n
    })
    .await;
    let (mut letters, mut after) = (Vec::new(), String::new());
    loop {
        let page = get(url, &format!("/dead-letters?limit=2{after}")).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        let page = page.json();
        letters.extend(page["dead_letters"].as_array().unwrap().iter().cloned());
        match page["next"].as_str() {
            Some(next) => after = format!("&after={next}"),
            None => return letters,
        }
    }
}

fn keys(received: &[courier_sim::Received]) -> Vec<String> {
    received
        .iter()
        .map(|r| r.json["data"]["key"].as_str().unwrap().to_owned())
        .collect()
}

#[actix_rt::test]
async fn a_retried_dead_letter_is_delivered_with_its_original_id_and_sequence() {
    let (t, admin) = refusing_receiver().await;
    t.ehr.touch("appt-1");
    t.ehr.touch("appt-2");
    let letters = listed(&t, &admin.url(), 2).await;
    let summary = letters.iter().find(|l| l["sequence"] == 2).unwrap();
    let id = summary["id"].as_str().unwrap();
    assert_eq!(summary["attempts"], 2, "the first attempt and one retry");
    assert_eq!(summary["last_status"], 400);
    assert!(
        summary.get("body").is_none(),
        "a list shows no patient data"
    );
    let shown = get(&admin.url(), &format!("/dead-letters/{id}"))
        .await
        .json();
    assert_eq!(shown["body"]["data"]["key"], "appt-2");
    assert_eq!(shown["attempts"].as_array().unwrap().len(), 2);
    assert!(t.receiver.accepted().is_empty());
    let url = admin.url();
    let show = courier_cli(&["dlq", "--admin", &url, "show", id]).await;
    let said = String::from_utf8_lossy(&show.stdout);
    assert!(show.status.success(), "{said}");
    assert!(
        said.contains("clinic-a (sequence 2)") && said.contains("  400  HTTP 400"),
        "{said}"
    );
    assert!(
        !said.contains("appt-2"),
        "no body (patient data) unless asked: {said}"
    );
    let with_body = courier_cli(&["dlq", "--admin", &url, "show", id, "--body"]).await;
    assert!(String::from_utf8_lossy(&with_body.stdout).contains("\"appt-2\""));

    t.receiver.always(200);
    let retried = post(&admin.url(), &format!("/dead-letters/{id}/retry")).await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.text);
    assert_eq!(retried.json()["retried"], 1);
    assert!(t.receiver.wait_for_accepted(1, PATIENCE).await);
    let received = &t.receiver.accepted()[0];
    assert_eq!(received.id, id, "the original webhook-id");
    assert_eq!(received.json["id"], id);
    assert_eq!(received.json["data"]["sequence"], 2);
    assert_eq!(received.json["data"]["key"], "appt-2");
    assert!(received.verified);
    // The other dead letter stays; the retried one is gone, and a second retry finds nothing.
    let left = listed(&t, &admin.url(), 1).await;
    assert_eq!(left[0]["sequence"], 1);
    let again = post(&admin.url(), &format!("/dead-letters/{id}/retry")).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    eventually("the delivered container leaves the store", PATIENCE, || {
        t.app.store().pending_count() == 0
    })
    .await;
    assert_eq!(
        keys(&t.receiver.accepted()),
        ["appt-2"],
        "nothing else was sent"
    );
}

#[actix_rt::test]
async fn courier_dlq_retry_resends_every_dead_letter_of_a_destination() {
    let (t, admin) = refusing_receiver().await;
    for id in ["appt-1", "appt-2", "appt-3"] {
        t.ehr.touch(id);
    }
    let letters = listed(&t, &admin.url(), 3).await;
    let url = admin.url();
    // The form README's command table shows: options after the action.
    let list = courier_cli(&["dlq", "list", "--destination", "app", "--admin", &url]).await;
    let table = String::from_utf8_lossy(&list.stdout);
    assert!(list.status.success(), "{table}");
    for letter in &letters {
        let row = format!("clinic-a/{}", letter["sequence"]);
        assert!(table.contains(letter["id"].as_str().unwrap()) && table.contains(&row));
    }
    let bare = post(&url, "/dead-letters/retry").await;
    assert_eq!(
        bare.status,
        StatusCode::BAD_REQUEST,
        "a bare bulk retry is refused"
    );

    t.receiver.always(200);
    let retry = courier_cli(&["dlq", "--admin", &url, "retry", "--destination", "app"]).await;
    let said = String::from_utf8_lossy(&retry.stdout);
    assert!(retry.status.success(), "{said}");
    assert!(said.starts_with("retried 3 dead letters"), "{said}");
    assert!(t.receiver.wait_for_distinct(3, PATIENCE).await);
    let id_and_sequence = |id: &Value, seq: &Value| (id.as_str().unwrap().to_owned(), seq.as_u64());
    let mut sent: Vec<_> = letters
        .iter()
        .map(|l| id_and_sequence(&l["id"], &l["sequence"]))
        .collect();
    let mut received: Vec<_> = t
        .receiver
        .accepted()
        .iter()
        .map(|r| id_and_sequence(&r.json["id"], &r.json["data"]["sequence"]))
        .collect();
    sent.sort();
    received.sort();
    assert_eq!(received, sent, "the same ids with the same sequences");
    listed(&t, &admin.url(), 0).await;
}

#[actix_rt::test]
async fn a_purged_dead_letter_is_gone_and_never_sent() {
    let (t, admin) = refusing_receiver().await;
    for id in ["appt-1", "appt-2", "appt-3"] {
        t.ehr.touch(id);
    }
    let letters = listed(&t, &admin.url(), 3).await;
    let url = admin.url();
    let first = letters[0]["id"].as_str().unwrap();
    let purged = call(&url, "DELETE", &format!("/dead-letters/{first}"), None).await;
    assert_eq!(purged.status, StatusCode::OK, "{}", purged.text);
    assert_eq!(purged.json()["ids"], serde_json::json!([first]));
    let gone = get(&url, &format!("/dead-letters/{first}")).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    let purge = courier_cli(&["dlq", "--admin", &url, "purge", "--connection", "clinic-a"]).await;
    let said = String::from_utf8_lossy(&purge.stdout);
    assert!(
        purge.status.success() && said.starts_with("purged 2 dead letters"),
        "{said}"
    );
    listed(&t, &admin.url(), 0).await;
    // Nothing comes back: a retry of everything finds nothing; only a new change arrives.
    t.receiver.always(200);
    let retry_all = post(&url, "/dead-letters/retry?all=true").await;
    assert_eq!(retry_all.json()["retried"], 0);
    t.ehr.touch("appt-4");
    assert!(t.receiver.wait_for_accepted(1, PATIENCE).await);
    assert_eq!(
        keys(&t.receiver.accepted()),
        ["appt-4"],
        "only the new change"
    );
}

#[actix_rt::test]
async fn a_dead_letter_retried_while_its_destination_is_paused_waits_then_goes_out_before_the_later_change_of_its_key(
) {
    let (t, admin) = refusing_receiver().await;
    let url = admin.url();
    t.ehr.touch("appt-1");
    let letters = listed(&t, &url, 1).await;
    let sequence = letters[0]["sequence"].as_u64().unwrap();
    let paused = post(&url, "/destinations/app/pause").await;
    assert_eq!(paused.status, StatusCode::OK, "{}", paused.text);
    t.receiver.always(200);
    // A later change of the same record, stored while the destination is paused.
    t.ehr.touch("appt-1");
    eventually("the later change stored", PATIENCE, || {
        t.destination().backlog == Some(1)
    })
    .await;
    let retried = post(&url, "/dead-letters/retry?all=true").await;
    assert_eq!(retried.json()["retried"], 1, "{}", retried.text);
    eventually(
        "the retried dead letter back in the backlog",
        PATIENCE,
        || t.destination().backlog == Some(2),
    )
    .await;
    assert!(
        t.receiver.accepted().is_empty(),
        "nothing goes to a paused destination"
    );

    let resumed = post(&url, "/destinations/app/resume").await;
    assert_eq!(resumed.status, StatusCode::OK, "{}", resumed.text);
    assert!(t.receiver.wait_for_accepted(2, PATIENCE).await);
    let sequences: Vec<u64> = t
        .receiver
        .accepted()
        .iter()
        .map(|r| r.json["data"]["sequence"].as_u64().unwrap())
        .collect();
    assert_eq!(
        sequences,
        [sequence, sequence + 1],
        "the retried one first: per-key order holds for retried dead letters"
    );
    assert_eq!(keys(&t.receiver.accepted()), ["appt-1", "appt-1"]);
}
