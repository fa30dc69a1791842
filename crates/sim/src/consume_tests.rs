//! The consume-once feed over real HTTP: each change handed out once, the processed window
//! re-read (with offset), faults after marking.

use chrono::Utc;
use serde_json::Value;

use super::consume::{END_PARAM, PROCESSED_TIME_FORMAT, START_PARAM};
use super::*;

async fn get_json(url: &str) -> (u16, Value) {
    let mut response = awc::Client::default().get(url).send().await.unwrap();
    let body = response.body().await.unwrap().to_vec();
    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    (response.status().as_u16(), json)
}

fn seqs(page: &Value) -> Vec<u64> {
    let items = page.as_array().expect("an array");
    items
        .iter()
        .map(|item| item["seq"].as_u64().unwrap())
        .collect()
}

#[actix_rt::test]
async fn each_change_is_handed_out_once_and_the_processed_window_reads_it_again() {
    let ehr = SimEhr::start(SimEhrOptions {
        initial_changes: 5,
        ..SimEhrOptions::default()
    })
    .unwrap();
    let feed = format!("{}/appointments/changed-once", ehr.base_url());
    let start = Utc::now().format(PROCESSED_TIME_FORMAT).to_string();
    assert_eq!(
        seqs(&get_json(&format!("{feed}?limit=3")).await.1),
        [1, 2, 3]
    );
    assert_eq!(seqs(&get_json(&format!("{feed}?limit=3")).await.1), [4, 5]);
    assert_eq!(
        seqs(&get_json(&feed).await.1),
        Vec::<u64>::new(),
        "nothing twice"
    );
    assert_eq!(ehr.processed_count(), 5);
    let end = Utc::now().format(PROCESSED_TIME_FORMAT).to_string();
    let window = |extra: &str| {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair(START_PARAM, &start)
            .append_pair(END_PARAM, &end)
            .finish();
        format!("{feed}?{query}{extra}")
    };
    assert_eq!(seqs(&get_json(&window("")).await.1), [1, 2, 3, 4, 5]);
    assert_eq!(seqs(&get_json(&window("&offset=3&limit=1")).await.1), [4]);
    assert_eq!(ehr.consume_reads(), (3, 2));
    assert_eq!(
        seqs(&get_json(&feed).await.1),
        Vec::<u64>::new(),
        "a re-read marks nothing"
    );
}

#[actix_rt::test]
async fn a_fault_after_marking_loses_the_answer_but_not_the_marks() {
    let ehr = SimEhr::start(SimEhrOptions {
        initial_changes: 2,
        ..SimEhrOptions::default()
    })
    .unwrap();
    let feed = format!("{}/appointments/changed-once", ehr.base_url());
    ehr.fault_consume(Fault::Status(502), 1);
    assert_eq!(get_json(&feed).await.0, 502);
    assert_eq!(ehr.processed_count(), 2, "marked before the answer broke");
    ehr.inject(Route::Feed, Fault::Status(503), 1);
    ehr.touch("appt-1");
    assert_eq!(get_json(&feed).await.0, 503);
    assert_eq!(
        ehr.processed_count(),
        2,
        "the EHR's own faults come before marking"
    );
    assert_eq!(seqs(&get_json(&feed).await.1), [3]);
}
