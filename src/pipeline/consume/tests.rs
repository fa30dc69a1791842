//! One consume-once poll made durable, against the simulated EHR's consume-once feed and a
//! real store: the anchor, dedupe of re-read changes, and the sweep of old dedupe entries.

use std::time::Duration;

use courier_sim::{Fault, SimEhr, SimEhrOptions};

use super::{poll_consume, SCOPE};
use crate::clock::ManualClock;
use crate::config::{ConnectionConfig, Recovery, Source};
use crate::ehr::consume::ConsumeOnceReader;
use crate::ehr::{fixtures, EhrClient};
use crate::pipeline::PageResult;
use crate::store::contract::contract;
use crate::store::Store;

contract!(
    a_reread_drops_what_is_stored_and_commits_the_rest,
    dedupe_entries_older_than_twice_the_margin_are_forgotten_in_a_later_commit,
);

/// The test connection reading `ehr`'s consume-once feed, with a re-read window of margin
/// 60 s.
fn connection(ehr: &SimEhr) -> ConnectionConfig {
    let mut config = fixtures::connection();
    config.base_url = ehr.base_url().parse().unwrap();
    let recovery = Recovery {
        start_param: courier_sim::consume::START_PARAM.into(),
        end_param: courier_sim::consume::END_PARAM.into(),
        time_format: courier_sim::consume::PROCESSED_TIME_FORMAT.into(),
        margin: Duration::from_secs(60),
        params: Vec::new(),
        offset_param: Some("offset".into()),
    };
    config.source = Source::ConsumeOnce(Box::new(crate::config::ConsumeOnceSource {
        recovery: Some(recovery),
        ..crate::ehr::consume::tests::source(None)
    }));
    config
}

fn reader(config: &ConnectionConfig) -> ConsumeOnceReader {
    match &config.source {
        Source::ConsumeOnce(feed) => ConsumeOnceReader::new((**feed).clone()),
        _ => unreachable!("a consume-once connection"),
    }
}

async fn poll(
    reader: &ConsumeOnceReader,
    client: &EhrClient,
    config: &ConnectionConfig,
    store: &Store,
) -> PageResult {
    poll_consume(reader, client, config, store, Some(100))
        .await
        .unwrap()
}

async fn entries(store: &Store, config: &ConnectionConfig) -> usize {
    store
        .scan_records(&config.id, SCOPE, None, 1000)
        .await
        .unwrap()
        .len()
}

async fn a_reread_drops_what_is_stored_and_commits_the_rest(store: Store) {
    let ehr = SimEhr::start(SimEhrOptions::default()).unwrap();
    let config = connection(&ehr);
    let (reader, client) = (reader(&config), EhrClient::new(&config));
    let anchor = poll(&reader, &client, &config, &store).await;
    assert!(anchor.more && anchor.cursor_moved && anchor.created == 0);
    assert_eq!(ehr.consume_reads(), (0, 0), "the anchor reads nothing");
    ehr.touch_each(3);
    assert_eq!(poll(&reader, &client, &config, &store).await.created, 3);
    assert_eq!(entries(&store, &config).await, 3);
    ehr.fault_consume(Fault::HalfBody, 1);
    ehr.touch("appt-4");
    ehr.touch("appt-5");
    assert!(poll_consume(&reader, &client, &config, &store, Some(100))
        .await
        .is_err());
    assert!(reader.is_recovering());
    let recovered = poll(&reader, &client, &config, &store).await;
    assert_eq!(
        (recovered.returned, recovered.created),
        (5, 2),
        "3 were stored"
    );
    let keys: Vec<&str> = recovered
        .containers
        .iter()
        .map(|c| c.key.as_str())
        .collect();
    assert_eq!(keys, ["appt-4", "appt-5"]);
    assert_eq!(
        recovered.containers[0].sequence, 4,
        "numbered on from the stored ones"
    );
    assert!(!reader.is_recovering() && recovered.more);
    assert_eq!(poll(&reader, &client, &config, &store).await.created, 0);
    assert_eq!(entries(&store, &config).await, 5);
}

async fn dedupe_entries_older_than_twice_the_margin_are_forgotten_in_a_later_commit(store: Store) {
    let ehr = SimEhr::start(SimEhrOptions::default()).unwrap();
    let config = connection(&ehr);
    let clock = ManualClock::running();
    let client = EhrClient::new(&config).with_clock(clock.clock());
    let reader = reader(&config);
    poll(&reader, &client, &config, &store).await;
    ehr.touch_each(3);
    poll(&reader, &client, &config, &store).await;
    clock.advance(Duration::from_secs(119));
    ehr.touch("appt-4");
    poll(&reader, &client, &config, &store).await;
    assert_eq!(
        entries(&store, &config).await,
        4,
        "none is two margins old yet"
    );
    clock.advance(Duration::from_secs(2));
    ehr.touch("appt-5");
    let page = poll(&reader, &client, &config, &store).await;
    assert_eq!(page.created, 1);
    assert_eq!(
        entries(&store, &config).await,
        2,
        "the first three are forgotten"
    );
}
