//! The FHIR load EHR's pages, read back with Courier's own Bundle reader.

use serde_json::{json, Value};

use super::*;
use crate::ehr::fhir::bundle::{found, parse, BundleKind, Found};
use crate::sim::load::{Counters, LoadEhrOptions};

fn shared(feed: LoadFeed) -> Shared {
    Shared {
        options: LoadEhrOptions {
            feed,
            patients: 3,
            ..LoadEhrOptions::default()
        },
        start_us: 1_767_225_600_000_000,
        padding: "xx".into(),
        counters: Counters::default(),
    }
}

/// The matches of a page as Courier's FHIR source reads them.
fn matches(body: &str) -> Vec<Found> {
    let body: Value = serde_json::from_str(body).unwrap();
    let page = parse("/Appointment", body, BundleKind::Searchset).unwrap();
    page.entries
        .into_iter()
        .map(|entry| found("/Appointment", entry, APPOINTMENT).unwrap())
        .collect()
}

fn ids(found: &[Found]) -> Vec<&str> {
    found.iter().map(|f| f.id.as_str()).collect()
}

fn query(text: &str) -> Search {
    search_query(text).unwrap()
}

#[test]
fn a_backlog_search_pages_by_keyset_with_increasing_instants() {
    let shared = shared(LoadFeed::Backlog);
    let last = last_change(LoadFeed::Backlog, shared.start_us, 5);
    let upper = "le2026-11-26T06:00:00.000Z";
    let first = query(&format!(
        "_lastUpdated=ge1970-01-01T00:00:00Z&_lastUpdated={upper}&_sort=_lastUpdated&_count=3"
    ));
    let body = search_page(&shared, &first, last, 5, "http://h/fhir");
    let page = matches(&body);
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
    let again = query(&format!("_lastUpdated=ge{}&_count=3", page[2].at_text));
    let next = matches(&search_page(&shared, &again, last, 5, "http://h/fhir"));
    assert_eq!(ids(&next), ["a-3", "a-4", "a-5"]);
    let past = query(&format!("_lastUpdated=gt{}&_count=2", page[2].at_text));
    let next = matches(&search_page(&shared, &past, last, 5, "http://h/fhir"));
    assert_eq!(ids(&next), ["a-4", "a-5"]);
}

#[test]
fn a_steady_rate_serves_changes_that_happened_up_to_the_upper_bound() {
    let feed = LoadFeed::Rate { per_sec: 2000.0 };
    let shared = shared(feed);
    let start = shared.start_us;
    // 3.2 ms after the start, changes 1 to 6 exist (one every 0.5 ms).
    let now = start + 3_200;
    let last = last_change(feed, start, now);
    let everything = query("_lastUpdated=ge1970-01-01T00:00:00Z&_count=100");
    let page = matches(&search_page(
        &shared,
        &everything,
        last,
        now,
        "http://h/fhir",
    ));
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
    let bounded = query(&format!(
        "_lastUpdated=gt{}&_lastUpdated=le{upper}",
        instant(start)
    ));
    let page = matches(&search_page(&shared, &bounded, last, now, "http://h/fhir"));
    assert_eq!(ids(&page), ["a-2", "a-3"]);
    let before = query(&format!("_lastUpdated=lt{upper}"));
    let page = matches(&search_page(&shared, &before, last, now, "http://h/fhir"));
    assert_eq!(ids(&page), ["a-1"]);
}

#[test]
fn an_idle_server_answers_an_empty_searchset() {
    let shared = shared(LoadFeed::Idle);
    let last = last_change(LoadFeed::Idle, 0, 99);
    let body = search_page(&shared, &query(""), last, 99, "http://h/fhir");
    assert!(matches(&body).is_empty());
}

#[test]
fn search_parameters_are_read_and_unsupported_ones_refused() {
    let search = query("_lastUpdated=gt2020-01-01T00:00:00.002Z&_lastUpdated=lt2020-01-01T00:00:01Z&_count=999999&status=booked");
    assert_eq!(
        search,
        Search {
            after: Some(Bound {
                at_us: BACKLOG_EPOCH_US + 2_000,
                inclusive: false
            }),
            before: Some(Bound {
                at_us: BACKLOG_EPOCH_US + 1_000_000,
                inclusive: false
            }),
            count: MAX_LIMIT,
        }
    );
    assert_eq!(query("").count, DEFAULT_COUNT);
    assert_eq!(search_query("_lastUpdated=eq2020-01-01T00:00:00Z"), None);
    assert_eq!(search_query("_lastUpdated=ge2020-01-01"), None);
    assert_eq!(search_query("_sort=-_lastUpdated"), None);
    assert_eq!(search_query("_count=many"), None);
}

#[actix_rt::test]
async fn the_server_answers_searches_reads_and_metadata_with_a_date() {
    let ehr = crate::sim::LoadEhr::start(LoadEhrOptions::default()).unwrap();
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
    let date = chrono::DateTime::parse_from_rfc2822(&date.expect("a Date header")).unwrap();
    assert!((chrono::Utc::now() - date.to_utc()).num_seconds().abs() <= 2);
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
    assert_eq!(statement["rest"][0]["resource"][0]["type"], APPOINTMENT);
    assert_eq!(get("/Observation".into()).await.0, 404);
    assert_eq!(get("/Appointment?_sort=-_lastUpdated".into()).await.0, 400);
    ehr.stop().await;
}
