//! The JSON lister against loopback servers: what it asks for (query, paging), how it reads
//! pages and records, and what a read by id answers.

use std::sync::{Arc, Mutex};

use serde_json::json;

use super::*;
use crate::ehr::fixtures;
use crate::ehr::loopback::{respond, serve_targets, Server};

fn source(paging: Paging) -> SnapshotSource {
    fixtures::snapshot(paging)
}

fn offset(size: usize) -> Paging {
    Paging::Offset {
        offset_param: "offset".into(),
        size_param: "limit".into(),
        size,
    }
}

/// A server answering `bodies` in turn (status and body), recording each request's target.
fn serve_pages(bodies: Vec<(&'static str, String)>) -> (Server, Arc<Mutex<Vec<String>>>) {
    let targets = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&targets);
    let server = serve_targets(move |number, target, stream| {
        seen.lock().unwrap().push(target.to_owned());
        let (status, body) = &bodies[number.min(bodies.len() - 1)];
        respond(stream, status, "", body);
    });
    (server, targets)
}

fn client_of(server: &Server) -> (EhrClient, url::Url) {
    let mut config = fixtures::connection();
    config.base_url = format!("http://{}/api", server.addr).parse().unwrap();
    (EhrClient::new(&config), config.base_url)
}

fn record(id: &str, status: &str, viewed: u32) -> Value {
    json!({"id": id, "status": status, "start": "2026-12-07T09:00:00Z", "lastViewed": viewed})
}

fn now() -> DateTime<Utc> {
    "2026-12-06T17:30:00Z".parse().unwrap()
}

#[actix_rt::test]
async fn offset_pages_ask_for_the_same_rendered_window_until_a_short_page() {
    let full = json!({"items": [record("a", "booked", 1), record("b", "booked", 1)], "total": 3});
    let short = json!({"items": [record("c", "booked", 1)], "total": 3});
    let (server, targets) = serve_pages(vec![
        ("200 OK", full.to_string()),
        ("200 OK", short.to_string()),
    ]);
    let (client, base) = client_of(&server);
    let lister = JsonLister::new(source(offset(2)), &base);
    let query = lister.query(now());
    assert_eq!(query, "from=12/05/2026&to=12/20/2026");
    let first = lister
        .page(&client, &query, &Position::First)
        .await
        .unwrap();
    let keys: Vec<_> = first.records.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["a", "b"]);
    assert_eq!(first.total, Some(3));
    assert_eq!(first.next, Some(Position::Offset(2)));
    let second = lister
        .page(&client, &query, &Position::Offset(2))
        .await
        .unwrap();
    assert_eq!(second.records.len(), 1);
    assert_eq!(
        second.next, None,
        "a page shorter than the page size ends the listing"
    );
    let targets = targets.lock().unwrap().clone();
    assert_eq!(
        targets,
        [
            "/api/schedule?from=12/05/2026&to=12/20/2026&offset=0&limit=2",
            "/api/schedule?from=12/05/2026&to=12/20/2026&offset=2&limit=2",
        ]
    );
}

/// A server whose page 1 links to `link` (with `{base}` replaced by its base URL) and whose
/// page 2 ends the listing.
fn linking(link: &'static str) -> (Server, Arc<Mutex<Vec<String>>>) {
    let targets = Arc::new(Mutex::new(Vec::new()));
    let base = Arc::new(Mutex::new(String::new()));
    let (seen, known) = (Arc::clone(&targets), Arc::clone(&base));
    let server = serve_targets(move |number, target, stream| {
        seen.lock().unwrap().push(target.to_owned());
        let next = link.replace("{base}", &known.lock().unwrap());
        let body = match number {
            0 => json!({"items": [record("a", "booked", 1)], "next": next}),
            _ => json!({"items": [record("b", "booked", 1)], "next": null}),
        };
        respond(stream, "200 OK", "", &body.to_string());
    });
    *base.lock().unwrap() = format!("http://{}/api", server.addr);
    (server, targets)
}

async fn follow(link: &'static str) -> Result<Vec<String>, EhrError> {
    let (server, targets) = linking(link);
    let (client, base) = client_of(&server);
    let paging = Paging::Link {
        next_pointer: "/next".into(),
    };
    let lister = JsonLister::new(source(paging), &base);
    let query = lister.query(now());
    let mut position = Position::First;
    loop {
        let page = lister.page(&client, &query, &position).await?;
        match page.next {
            Some(next) => position = next,
            None => return Ok(targets.lock().unwrap().clone()),
        }
    }
}

#[actix_rt::test]
async fn next_links_are_followed_under_base_url_and_refused_elsewhere() {
    let first = "/api/schedule?from=12/05/2026&to=12/20/2026";
    let targets = follow("{base}/schedule?page=2").await.unwrap();
    assert_eq!(targets, [first, "/api/schedule?page=2"]);
    let targets = follow("/schedule?page=2").await.unwrap();
    assert_eq!(
        targets,
        [first, "/api/schedule?page=2"],
        "a path is under base_url"
    );
    let targets = follow("/api/schedule?page=2").await.unwrap();
    assert_eq!(
        targets,
        [first, "/api/schedule?page=2"],
        "a path from the host"
    );
    for elsewhere in [
        "http://elsewhere.example/api/schedule?page=2",
        "//elsewhere.example/x",
    ] {
        let refused = follow(elsewhere).await.unwrap_err();
        assert!(
            refused.to_string().contains("not under base_url"),
            "{refused}"
        );
    }
}

#[actix_rt::test]
async fn a_page_with_an_unusable_record_is_refused_whole_naming_index_and_key() {
    let secret = "Jane Doe";
    let bad_date = json!({"items": [record("a", "booked", 1), {"id": "b", "start": secret}]});
    let no_key = json!({"items": [{"name": secret, "start": "2026-12-07"}]});
    let bad_key = json!({"items": [{"id": "", "start": "2026-12-07"}]});
    for (body, says) in [
        (
            bad_date,
            "record 1 (key b): no RFC 3339 instant or YYYY-MM-DD date at /start",
        ),
        (no_key, "record 0: no key at /id"),
        (bad_key, "record 0: the key at /id is empty"),
    ] {
        let (server, _) = serve_pages(vec![("200 OK", body.to_string())]);
        let (client, base) = client_of(&server);
        let lister = JsonLister::new(source(Paging::Single), &base);
        let err = lister
            .page(&client, "", &Position::First)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), "malformed_response");
        let text = err.to_string();
        assert!(text.contains(says), "{text}");
        assert!(
            !text.contains(secret),
            "a record's content never shows: {text}"
        );
    }
}

#[actix_rt::test]
async fn records_are_keyed_dated_and_fingerprinted_by_the_compared_pointers_only() {
    let day = json!({"id": 42, "status": "booked", "start": "2026-12-07", "lastViewed": 1});
    let body = json!({"items": [day, record("a", "booked", 1), record("a2", "booked", 99)]});
    let (server, _) = serve_pages(vec![("200 OK", body.to_string())]);
    let (client, base) = client_of(&server);
    let lister = JsonLister::new(source(Paging::Single), &base);
    let page = lister.page(&client, "", &Position::First).await.unwrap();
    let [day, viewed_once, viewed_often] = &page.records[..] else {
        panic!("three records");
    };
    assert_eq!(day.key, "42", "a numeric key is its decimal text");
    assert_eq!(
        day.date,
        "2026-12-07T00:00:00Z"
            .parse::<DateTime<Utc>>()
            .unwrap()
            .timestamp()
    );
    assert!(
        viewed_once
            .fingerprint
            .same_content(&viewed_often.fingerprint),
        "lastViewed is not compared"
    );
    let mut whole = source(Paging::Single);
    whole.compare.clear();
    let lister = JsonLister::new(whole, &base);
    let (a, b) = (record("a", "booked", 1), record("a", "booked", 2));
    let (a, b) = (
        lister.listed("/", 0, a).unwrap(),
        lister.listed("/", 1, b).unwrap(),
    );
    assert!(
        !a.fingerprint.same_content(&b.fingerprint),
        "no compare: the whole record"
    );
}

#[actix_rt::test]
async fn a_read_by_id_tells_gone_from_present_from_a_failure() {
    let present = record("a", "cancelled", 1).to_string();
    for (status, body) in [("404 Not Found", "{}"), ("410 Gone", "{}")] {
        let (server, targets) = serve_pages(vec![(status, body.to_owned())]);
        let (client, base) = client_of(&server);
        let lister = JsonLister::new(source(Paging::Single), &base);
        assert_eq!(
            lister.confirm(&client, "a b").await.unwrap(),
            Confirmed::Gone
        );
        assert_eq!(targets.lock().unwrap()[0], "/api/appointments/a%20b");
    }
    let (server, _) = serve_pages(vec![("200 OK", present)]);
    let (client, base) = client_of(&server);
    let lister = JsonLister::new(source(Paging::Single), &base);
    match lister.confirm(&client, "a").await.unwrap() {
        Confirmed::Present(listed) => assert_eq!(listed.record["status"], "cancelled"),
        other => panic!("{other:?}"),
    }
    let (server, _) = serve_pages(vec![("503 Service Unavailable", "{}".to_owned())]);
    let (client, base) = client_of(&server);
    let lister = JsonLister::new(source(Paging::Single), &base);
    assert!(
        lister.confirm(&client, "a").await.is_err(),
        "the sweep retries"
    );
    let mut unread = source(Paging::Single);
    unread.confirm_path = None;
    let lister = JsonLister::new(unread, &base);
    assert_eq!(
        lister.confirm(&client, "a").await.unwrap(),
        Confirmed::Unread
    );
}
