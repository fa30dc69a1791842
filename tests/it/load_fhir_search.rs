//! The FHIR load EHR's pages (`courier_sim::load`'s `/fhir` flavour), read back with Courier's
//! own Bundle reader: what the benchmark's FHIR source is measured against must be what
//! Courier reads.

use chrono::{DateTime, SecondsFormat, Utc};
use courier::ehr::fhir::fuzzing::{found, parse, BundleKind, Found};
use courier_sim::load::fhir::{SearchPages, CREATED_US_URL};
use courier_sim::{LoadEhr, LoadEhrOptions, LoadFeed};
use serde_json::{json, Value};

/// When change 0 of a steady rate happened: 2026-01-01T00:00:00Z.
const START_US: u64 = 1_767_225_600_000_000;
const BASE: &str = "http://h/fhir";

/// A load EHR's searches with 3 patients and a padding of `"xx"`.
fn pages(feed: LoadFeed) -> SearchPages {
    let options = LoadEhrOptions {
        feed,
        patients: 3,
        payload_bytes: 2,
        ..LoadEhrOptions::default()
    };
    SearchPages::new(options, START_US)
}

/// The matches of a page as Courier's FHIR source reads them.
fn matches(body: &str) -> Vec<Found> {
    let body: Value = serde_json::from_str(body).unwrap();
    let page = parse("/Appointment", body, BundleKind::Searchset).unwrap();
    page.entries
        .into_iter()
        .map(|entry| found("/Appointment", entry, "Appointment").unwrap())
        .collect()
}

/// The matches of the search `query` at `now_us`.
fn search(pages: &SearchPages, query: &str, now_us: u64) -> Vec<Found> {
    matches(
        &pages
            .page(query, now_us, BASE)
            .expect("a query the server accepts"),
    )
}

fn ids(found: &[Found]) -> Vec<&str> {
    found.iter().map(|f| f.id.as_str()).collect()
}

/// An instant as the load EHR writes `meta.lastUpdated`.
fn instant(at_us: u64) -> String {
    DateTime::<Utc>::from_timestamp_micros(at_us as i64)
        .unwrap()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[test]
fn a_backlog_search_pages_by_keyset_with_increasing_instants() {
    let pages = pages(LoadFeed::Backlog);
    let upper = "le2026-11-26T06:00:00.000Z";
    let first = format!(
        "_lastUpdated=ge1970-01-01T00:00:00Z&_lastUpdated={upper}&_sort=_lastUpdated&_count=3"
    );
    let page = search(&pages, &first, 5);
    assert_eq!(ids(&page), ["a-1", "a-2", "a-3"]);
    assert!(page.windows(2).all(|w| w[0].at < w[1].at));
    assert_eq!(page[0].at_text, "2020-01-01T00:00:00.001Z");
    assert_eq!(page[0].version, "1");
    let resource = &page[1].resource;
    assert_eq!(
        resource["participant"][0]["actor"]["reference"],
        "Patient/p-3"
    );
    assert_eq!(resource["extension"][0]["url"], CREATED_US_URL);
    assert_eq!(resource["extension"][0]["valueDecimal"], 5, "served at 5");
    assert_eq!(resource["comment"], "xx");
    // Courier's next search starts at the last instant taken, inclusive, then past it.
    let again = format!("_lastUpdated=ge{}&_count=3", page[2].at_text);
    assert_eq!(ids(&search(&pages, &again, 5)), ["a-3", "a-4", "a-5"]);
    let past = format!("_lastUpdated=gt{}&_count=2", page[2].at_text);
    assert_eq!(ids(&search(&pages, &past, 5)), ["a-4", "a-5"]);
}

#[test]
fn a_steady_rate_serves_changes_that_happened_up_to_the_upper_bound() {
    let pages = pages(LoadFeed::Rate { per_sec: 2000.0 });
    let start = START_US;
    // 3.2 ms after the start, changes 1 to 6 exist (one every 0.5 ms).
    let now = start + 3_200;
    let everything = "_lastUpdated=ge1970-01-01T00:00:00Z&_count=100";
    let page = search(&pages, everything, now);
    assert_eq!(ids(&page), ["a-1", "a-2", "a-3", "a-4", "a-5", "a-6"]);
    // Two changes share each millisecond: lastUpdated is when it happened, to the ms, and
    // created_us is exact.
    let at = |f: &Found| f.at.timestamp_micros() as u64;
    assert_eq!(at(&page[0]), start);
    assert_eq!(at(&page[2]), start + 1_000);
    assert_eq!(
        page[2].resource["extension"][0]["valueDecimal"],
        start + 1_500
    );
    // An upper bound (the server's Date minus the lag) leaves out later changes.
    let upper = instant(start + 1_000);
    let bounded = format!("_lastUpdated=gt{}&_lastUpdated=le{upper}", instant(start));
    assert_eq!(ids(&search(&pages, &bounded, now)), ["a-2", "a-3"]);
    let before = format!("_lastUpdated=lt{upper}");
    assert_eq!(ids(&search(&pages, &before, now)), ["a-1"]);
}

#[test]
fn an_idle_server_answers_an_empty_searchset() {
    let pages = pages(LoadFeed::Idle);
    assert!(search(&pages, "", 99).is_empty());
}

#[actix_rt::test]
async fn the_server_answers_searches_reads_and_metadata_with_a_date() {
    let ehr = LoadEhr::start(LoadEhrOptions::default()).unwrap();
    let base = ehr.fhir_base_url();
    let client = awc::Client::default();
    let get = |path: String| {
        let request = client.get(format!("{base}{path}"));
        async move {
            let mut response = request.send().await.unwrap();
            let body = response.body().await.unwrap();
            let date = response
                .headers()
                .get("date")
                .map(|d| d.to_str().unwrap().to_owned());
            (response.status().as_u16(), date, body)
        }
    };
    let (status, date, body) =
        get("/Appointment?_lastUpdated=ge2019-12-31T00:00:00Z&_count=2".into()).await;
    assert_eq!(status, 200);
    let date = DateTime::parse_from_rfc2822(&date.expect("a Date header")).unwrap();
    assert!((Utc::now() - date.to_utc()).num_seconds().abs() <= 2);
    let page = matches(std::str::from_utf8(&body).unwrap());
    assert_eq!(ids(&page), ["a-1", "a-2"]);
    let bundle: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        bundle["entry"][0]["fullUrl"],
        format!("{base}/Appointment/a-1")
    );
    let (status, _, body) = get("/Patient/p-2".into()).await;
    let patient: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (status, &patient["resourceType"], &patient["id"]),
        (200, &json!("Patient"), &json!("p-2"))
    );
    let (_, _, body) = get("/metadata".into()).await;
    let statement: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(statement["rest"][0]["resource"][0]["type"], "Appointment");
    assert_eq!(get("/Observation".into()).await.0, 404);
    assert_eq!(get("/Appointment?_sort=-_lastUpdated".into()).await.0, 400);
    ehr.stop().await;
}
