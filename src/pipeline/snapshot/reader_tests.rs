//! A snapshot connection's poll as the pipeline reports it to the connection actor: the
//! listing's position as the cursor, `more` until the listing ends, and the listing's
//! warning handed to `warn` after every poll.

use std::cell::RefCell;

use chrono::{Duration, Utc};
use serde_json::json;

use crate::config::{Paging, Source};
use crate::ehr::loopback::{respond, serve};
use crate::ehr::{fixtures, EhrClient, Source as EhrSource};
use crate::pipeline::poll_page;
use crate::store::Store;

#[actix_rt::test]
async fn a_listing_polls_page_then_sweep_and_warns_when_its_count_is_off() {
    let start = (Utc::now() + Duration::hours(2)).to_rfc3339();
    // The EHR says the window holds three records but lists one: inconsistent.
    let body = json!({"items": [{"id": "a", "status": "booked", "start": start}], "total": 3});
    let server = serve(move |_, stream| respond(stream, "200 OK", "", &body.to_string()));
    let mut config = fixtures::connection();
    config.base_url = format!("http://{}/api", server.addr).parse().unwrap();
    config.source = Source::Snapshot(Box::new(fixtures::snapshot(Paging::Single)));
    let (store, client) = (Store::memory(), EhrClient::new(&config));
    let source = EhrSource::for_connection(&config);
    let heard = RefCell::new(Vec::new());
    let warn = |warnings: &[String]| *heard.borrow_mut() = warnings.to_vec();
    let mut cursors = Vec::new();
    for _ in 0..4 {
        let page = poll_page(&source, &client, &config, &store, None, &warn)
            .await
            .unwrap();
        assert_eq!(page.created, 0, "a baseline notifies nothing");
        cursors.push((page.cursor.0, page.returned, page.more));
    }
    let expected = [
        ("listing 1 page 1", 1, true),
        ("listing 1 sweep", 0, false),
        ("listing 2 page 1", 1, true),
        ("listing 2 sweep", 0, false),
    ];
    let expected: Vec<_> = expected
        .iter()
        .map(|(cursor, returned, more)| ((*cursor).to_owned(), *returned, *more))
        .collect();
    assert_eq!(cursors, expected);
    let heard = heard.borrow();
    assert_eq!(heard.len(), 1, "{heard:?}");
    assert!(heard[0].contains("the EHR's total is 3 but 1 records were listed"));
}
