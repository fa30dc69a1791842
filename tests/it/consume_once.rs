//! Consume-once feeds as a receiver sees them: the simulated EHR hands each change out once
//! and marks it processed; Courier stores every page before the next read, and re-reads the
//! EHR's processed window after a read whose answer it lost (or never stored), so every
//! change arrives, and a repeat carries the original's id.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::time::Duration;

use courier::app::{App, AppOptions};
use courier::store::Store;
use courier_sim::{Fault, SimEhr, SimEhrOptions, SimReceiver};

use crate::support::app::{
    config_text, eventually, parse_config, spawn_app, start_receiver, ConnectionSpec, PATIENCE,
};

/// The sim's re-read window, as athenahealth names it; a small margin keeps windows short.
const RECOVERY: &str = "{ start_param = \"showprocessedstartdatetime\", end_param = \
    \"showprocessedenddatetime\", time_format = \"%m/%d/%Y %H:%M:%S\", margin_secs = 2 }";

/// The test connection reading the sim's consume-once feed, with its re-read window.
fn consume_once(spec: ConnectionSpec) -> ConnectionSpec {
    spec.without("cursor_pointer")
        .with("source", "\"consume-once\"")
        .with("changes_path", "\"/appointments/changed-once\"")
        .with("recovery", RECOVERY)
}

/// Each accepted notification's (key, version) by id, checking that every repeat of an id
/// is the same change under the same sequence.
fn changes_by_id(receiver: &SimReceiver) -> HashMap<String, (String, String, u64)> {
    let mut by_id = HashMap::new();
    for request in receiver.accepted() {
        let data = &request.json["data"];
        let change = (
            data["key"].as_str().unwrap().to_owned(),
            data["version"].as_str().unwrap().to_owned(),
            data["sequence"].as_u64().unwrap(),
        );
        let first = by_id
            .entry(request.id.clone())
            .or_insert_with(|| change.clone());
        assert_eq!(
            *first, change,
            "a repeat of {} is the same change",
            request.id
        );
    }
    by_id
}

/// Every change of `expected` arrived, under sequences 1..=N, and nothing else did.
fn assert_each_change_arrived(receiver: &SimReceiver, expected: &BTreeSet<(String, String)>) {
    let by_id = changes_by_id(receiver);
    let changes: BTreeSet<(String, String)> = by_id
        .values()
        .map(|(k, v, _)| (k.clone(), v.clone()))
        .collect();
    assert_eq!(&changes, expected, "each change arrived");
    let sequences: BTreeSet<u64> = by_id.values().map(|(_, _, s)| *s).collect();
    assert_eq!(sequences, (1..=expected.len() as u64).collect(), "gap-free");
    assert!(receiver.summary().all_verified, "every signature verifies");
}

#[actix_rt::test]
async fn each_change_handed_out_once_arrives_once() {
    let ehr = SimEhrOptions {
        appointments: 30,
        ..SimEhrOptions::default()
    };
    let t = spawn_app(ehr, |c| consume_once(c).with("page_size", "7")).await;
    let expected = t.ehr.touch_each(30);
    eventually("30 notifications", PATIENCE, || {
        t.receiver.unique_accepted_ids() == 30
    })
    .await;
    assert_each_change_arrived(&t.receiver, &expected);
    let summary = t.receiver.summary();
    assert_eq!((summary.delivered, summary.duplicates), (30, 0));
    assert_eq!(t.ehr.processed_count(), 30);
    let first = &t.receiver.accepted()[0].json;
    assert_eq!(first["type"], "appointment.updated");
    assert_eq!(first["data"]["change"]["id"], first["data"]["key"]);
    assert_eq!(
        first["data"]["resources"]["patient"]["id"], first["data"]["change"]["patientId"],
        "enriched as a changes feed is"
    );
}

#[actix_rt::test]
async fn changes_whose_answer_was_lost_are_read_again_through_the_window() {
    let t = spawn_app(SimEhrOptions::default(), consume_once).await;
    let before = t.ehr.touch_each(3);
    eventually("the first changes", PATIENCE, || {
        t.receiver.unique_accepted_ids() == 3
    })
    .await;
    // One answer broken off half-way, one held past the request timeout (2 s): both reads
    // marked their changes processed, and neither reached Courier.
    t.ehr.fault_consume(Fault::HalfBody, 1);
    t.ehr.fault_consume(Fault::Hang(Duration::from_secs(3)), 1);
    let mut expected = before;
    for n in 4..=6 {
        let id = format!("appt-{n}");
        expected.insert((id.clone(), t.ehr.touch(&id).to_string()));
        let processed = n;
        eventually("the change handed out", PATIENCE, || {
            t.ehr.processed_count() == processed
        })
        .await;
    }
    eventually("every change, lost answers included", PATIENCE, || {
        t.receiver.unique_accepted_ids() == 6
    })
    .await;
    assert_each_change_arrived(&t.receiver, &expected);
    let (_, rereads) = t.ehr.consume_reads();
    // A new connection anchors instead of re-reading: the re-reads are the losses'.
    assert_eq!(rereads, 2, "a re-read after each loss");
    assert_eq!(
        t.receiver.summary().duplicates,
        0,
        "re-reads drop what was stored"
    );
}

/// A Courier stopped while the EHR holds an answer it already marked processed: the page is
/// never committed. Started again on the same sled store, it re-reads the window.
#[actix_rt::test]
async fn a_restart_after_a_read_that_was_never_committed_loses_nothing() {
    let ehr = SimEhr::start(SimEhrOptions::default()).unwrap();
    let (receiver, secret) = start_receiver();
    let dir = tempfile::tempdir().unwrap();
    let spec =
        consume_once(ConnectionSpec::new("clinic-a", &ehr)).with("request_timeout_ms", "10000");
    let text = config_text(dir.path(), &receiver.url(), "", &[spec]);
    let app = App::start(
        parse_config(&text, &secret),
        open(dir.path()).await,
        AppOptions::default(),
    );
    let mut expected = ehr.touch_each(4);
    eventually("the first changes", PATIENCE, || {
        receiver.unique_accepted_ids() == 4
    })
    .await;
    ehr.fault_consume(Fault::Hang(Duration::from_secs(6)), 1);
    for n in 5..=8 {
        let id = format!("appt-{n}");
        expected.insert((id.clone(), ehr.touch(&id).to_string()));
    }
    eventually("the held read marked them", PATIENCE, || {
        ehr.processed_count() == 8
    })
    .await;
    app.shutdown(Duration::from_millis(200)).await.unwrap();
    assert_eq!(
        receiver.unique_accepted_ids(),
        4,
        "the held page was never stored"
    );
    let again = App::start(
        parse_config(&text, &secret),
        open(dir.path()).await,
        AppOptions::default(),
    );
    eventually("every change after the restart", PATIENCE, || {
        receiver.unique_accepted_ids() == 8
    })
    .await;
    assert_each_change_arrived(&receiver, &expected);
    again.shutdown(Duration::from_secs(1)).await.unwrap();
}

/// Opens the sled store at `path`, once the last app that had it open let it go.
async fn open(path: &Path) -> Store {
    let mut store = None;
    eventually("the store opens", PATIENCE, || {
        store = store.take().or_else(|| Store::open(path).ok());
        store.is_some()
    })
    .await;
    store.unwrap()
}

/// `courier check` on the shipped example and on the same feed without its re-read window:
/// both accepted; only the second warns, on stderr, naming what a crash loses.
#[test]
fn check_warns_about_a_feed_without_a_reread_window_but_accepts_it() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/consume-once.toml");
    let text = std::fs::read_to_string(&example).unwrap();
    let start = text.find("[connections.practice-e.recovery]").unwrap();
    let end = start + text[start..].find("[[connections").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let without = dir.path().join("without-recovery.toml");
    std::fs::write(&without, format!("{}{}", &text[..start], &text[end..])).unwrap();
    let check = |path: &Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_courier"))
            .args(["check", "--config", path.to_str().unwrap()])
            .env_clear()
            .env(
                "COURIER_APP_SECRET",
                courier::delivery::signing::SigningKey::generate_secret(),
            )
            .output()
            .expect("courier check runs")
    };
    let shipped = check(&example);
    assert!(shipped.status.success(), "{shipped:?}");
    assert!(!String::from_utf8_lossy(&shipped.stderr).contains("warning"));
    let warned = check(&without);
    assert!(
        warned.status.success(),
        "a warning does not fail the check: {warned:?}"
    );
    let stderr = String::from_utf8_lossy(&warned.stderr);
    assert!(
        stderr.starts_with("warning: connections.practice-e: ")
            && stderr.contains(
                "a crash or a lost response between a GET and its commit loses that page"
            ),
        "{stderr}"
    );
}
