//! Tests of one poll made durable, against a loopback EHR and a temporary store: what a page
//! commits, what a page read again commits, and that a failure on either side writes nothing.
//! Each test that only needs a store runs against every backend (`contract!`: sled, in
//! memory, PostgreSQL).

use chrono::Utc;
use serde_json::{json, Value};

use super::{poll_page, PageResult, PollError};
use crate::config::{ConnectionConfig, Source};
use crate::ehr::loopback::{respond, serve, Server};
use crate::ehr::{fixtures, EhrClient, Source as EhrSource};
use crate::store::contract::contract;
use crate::store::Store;

contract!(
    a_page_commits_its_containers_with_the_cursor_after_them,
    a_page_read_again_creates_nothing_and_leaves_the_cursor_where_it_was,
    an_ehr_failure_writes_nothing,
    a_fhir_page_read_again_is_sorted_against_the_versions_the_store_took,
    a_baseline_skips_the_feeds_backlog_then_notifies_what_comes_after,
);

/// A loopback EHR that answers every request with `status`, `body` and a `Date` of now.
fn ehr(status: &'static str, body: Value) -> Server {
    let body = body.to_string();
    serve(move |_, stream| {
        let date = Utc::now().format("date: %a, %d %b %Y %H:%M:%S GMT\r\n");
        respond(stream, status, &date.to_string(), &body);
    })
}

/// The test changes-feed connection, pointed at `server`.
fn changes_connection(server: &Server) -> ConnectionConfig {
    let mut config = fixtures::connection();
    config.base_url = format!("http://{}/api", server.addr).parse().unwrap();
    config
}

async fn poll(
    source: &EhrSource,
    config: &ConnectionConfig,
    store: &Store,
) -> Result<PageResult, PollError> {
    let client = EhrClient::new(config);
    poll_page(
        source,
        &client,
        config,
        store,
        config.source.page_size(),
        &|_| {},
    )
    .await
}

fn two_changes() -> Value {
    json!([
        {"seq": 1, "id": "a", "patientId": "p", "ts": "v1"},
        {"seq": 2, "id": "b", "patientId": "p", "ts": "v1"},
    ])
}

async fn a_page_commits_its_containers_with_the_cursor_after_them(store: Store) {
    let server = ehr("200 OK", two_changes());
    let config = changes_connection(&server);
    let page = poll(&EhrSource::for_connection(&config), &config, &store)
        .await
        .unwrap();
    let sequences: Vec<u64> = page.containers.iter().map(|c| c.sequence).collect();
    assert_eq!(sequences, [1, 2]);
    assert_eq!((page.created, page.returned, page.behind), (2, 2, 0));
    assert!(page.cursor_moved && !page.was_full() && !page.is_stuck());
    let state = store.connection_state(&config.id, "0").await.unwrap();
    assert_eq!((state.cursor.value.as_str(), state.next_sequence), ("2", 3));
    assert_eq!(store.pending(&config.id, 0).count().await, 2);
}

async fn a_page_read_again_creates_nothing_and_leaves_the_cursor_where_it_was(store: Store) {
    let server = ehr("200 OK", two_changes());
    let config = changes_connection(&server);
    poll(&EhrSource::for_connection(&config), &config, &store)
        .await
        .unwrap();
    let again = poll(&EhrSource::for_connection(&config), &config, &store)
        .await
        .unwrap();
    assert_eq!((again.created, again.returned, again.behind), (0, 2, 1));
    assert!(!again.cursor_moved);
    let state = store.connection_state(&config.id, "0").await.unwrap();
    assert_eq!((state.cursor.value.as_str(), state.next_sequence), ("2", 3));
}

async fn an_ehr_failure_writes_nothing(store: Store) {
    let server = ehr("500 Internal Server Error", json!({}));
    let config = changes_connection(&server);
    let err = poll(&EhrSource::for_connection(&config), &config, &store)
        .await
        .unwrap_err();
    assert!(matches!(err, PollError::Ehr(_)), "{err}");
    let state = store.connection_state(&config.id, "0").await.unwrap();
    assert_eq!((state.cursor.value.as_str(), state.next_sequence), ("0", 1));
}

/// `initial = "baseline"`: the backlog moves the cursor without a container; a change after
/// it is notified.
async fn a_baseline_skips_the_feeds_backlog_then_notifies_what_comes_after(store: Store) {
    let body = std::sync::Arc::new(std::sync::Mutex::new(two_changes().to_string()));
    let served = body.clone();
    let server = serve(move |_, stream| {
        let date = Utc::now().format("date: %a, %d %b %Y %H:%M:%S GMT\r\n");
        respond(stream, "200 OK", &date.to_string(), &served.lock().unwrap());
    });
    let mut config = changes_connection(&server);
    let Source::Changes(feed) = &mut config.source else {
        unreachable!("the fixture is a changes feed");
    };
    feed.initial = crate::config::Initial::Baseline;
    let source = EhrSource::for_connection(&config);
    let skipped = poll(&source, &config, &store).await.unwrap();
    assert_eq!((skipped.created, skipped.returned), (0, 2));
    assert!(!skipped.was_full());
    let state = store.connection_state(&config.id, "0").await.unwrap();
    assert_eq!((state.cursor.value.as_str(), state.next_sequence), ("2", 1));
    let mut three = two_changes();
    three
        .as_array_mut()
        .unwrap()
        .push(json!({"seq": 3, "id": "c", "patientId": "p", "ts": "v1"}));
    *body.lock().unwrap() = three.to_string();
    let after = poll(&source, &config, &store).await.unwrap();
    let keys: Vec<&str> = after.containers.iter().map(|c| c.key.as_str()).collect();
    assert_eq!(keys, ["c"]);
}

/// The position is read from the store before the EHR is asked: a store that cannot say
/// where the connection stands fails the poll without a request.
#[actix_rt::test]
async fn a_store_that_fails_fails_the_poll_before_the_ehr_is_asked() {
    let server = ehr("200 OK", two_changes());
    let config = changes_connection(&server);
    let sled = std::sync::Arc::new(crate::store::sled::SledStore::temporary().unwrap());
    let store = Store::new(sled.clone());
    sled.fail_for_test();
    let err = poll(&EhrSource::for_connection(&config), &config, &store)
        .await
        .unwrap_err();
    assert!(matches!(err, PollError::Store(_)), "{err}");
    assert_eq!(err.kind(), "store");
    assert!(server.arrivals.lock().unwrap().is_empty());
}

fn appointments() -> Value {
    let appointment = |id: &str| {
        let meta = json!({"versionId": "1", "lastUpdated": "2020-01-01T00:00:00Z"});
        json!({"search": {"mode": "match"},
            "resource": {"resourceType": "Appointment", "id": id, "status": "booked", "meta": meta}})
    };
    json!({"resourceType": "Bundle", "type": "searchset",
        "entry": [appointment("a1"), appointment("a2")]})
}

/// The versions a FHIR page found are sorted against those the store says were taken: the
/// same page read again creates no container, while its cursor still moves.
async fn a_fhir_page_read_again_is_sorted_against_the_versions_the_store_took(store: Store) {
    let server = ehr("200 OK", appointments());
    let mut config = changes_connection(&server);
    config.source = Source::Fhir(fixtures::fhir_source(&[("Appointment", false)]));
    let source = EhrSource::for_connection(&config);
    let page = poll(&source, &config, &store).await.unwrap();
    let focus: Vec<&str> = page.containers.iter().map(|c| c.key.as_str()).collect();
    assert_eq!(focus, ["Appointment/a1", "Appointment/a2"]);
    assert!(page.cursor_moved && !page.more);
    assert!(page.cursor.as_str().starts_with("Appointment:"));
    let seen = store
        .fhir_seen(&config.id, "Appointment", "a1")
        .await
        .unwrap();
    assert_eq!(seen.map(|s| s.version).as_deref(), Some("1"));
    let again = poll(&source, &config, &store).await.unwrap();
    assert_eq!((again.created, again.returned), (0, 2));
    let state = store.connection_state(&config.id, "0").await.unwrap();
    assert_eq!(state.next_sequence, 3);
}
