//! The admin API's refusals as a script meets them: JSON in one shape (`{"error": ...}`)
//! whatever refused the request, and the bearer scheme read in any case.

use actix_web::http::StatusCode;
use courier_sim::SimEhrOptions;

use crate::support::admin::{call, get, post, start_admin, Answer};
use crate::support::app::spawn_app;

/// The admin token of these tests: long enough for a configuration to accept.
const TOKEN: &str = "sixteen-chars-or-more";

/// `POST path` with `body`, bearing [`TOKEN`].
async fn post_body(base: &str, path: &str, body: Vec<u8>) -> Answer {
    let mut response = awc::Client::default()
        .post(format!("{base}{path}"))
        .bearer_auth(TOKEN)
        .insert_header(("content-type", "application/json"))
        .send_body(body)
        .await
        .expect("the admin API answers");
    let body = response.body().await.unwrap();
    Answer {
        status: response.status(),
        text: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// Asserts `answer` is an error of `status` whose JSON message contains `says`.
fn assert_json_error(answer: &Answer, status: StatusCode, says: &str) {
    assert_eq!(answer.status, status, "{}", answer.text);
    let message = answer.json()["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(message.contains(says), "{message:?} does not say {says:?}");
}

#[actix_rt::test]
async fn every_refusal_is_json_in_the_same_shape() {
    let test = spawn_app(SimEhrOptions::default(), |c| c).await;
    let admin = start_admin(&test, Some(TOKEN));
    let url = admin.url();
    let call = |method, path| call(&url, method, path, Some(TOKEN));
    let negative = call("GET", "/replay/-1").await;
    assert_json_error(&negative, StatusCode::BAD_REQUEST, "can not parse \"-1\"");
    let query = call("GET", "/dead-letters?limit=many").await;
    assert_json_error(&query, StatusCode::BAD_REQUEST, "the query is not valid");
    let method = call("DELETE", "/status").await;
    assert_json_error(&method, StatusCode::NOT_FOUND, "no such admin endpoint");
    let missing = call("GET", "/no/such/thing").await;
    assert_json_error(&missing, StatusCode::NOT_FOUND, "no such admin endpoint");
    let large = post_body(&url, "/replay", vec![b' '; 300 * 1024]).await;
    assert_json_error(&large, StatusCode::PAYLOAD_TOO_LARGE, "size limit");
    let garbage = post_body(&url, "/replay", b"{not json".to_vec()).await;
    assert_json_error(&garbage, StatusCode::BAD_REQUEST, "not a replay request");
    let refused = post(&url, "/poll").await;
    assert_json_error(&refused, StatusCode::UNAUTHORIZED, "Bearer");
}

#[actix_rt::test]
async fn the_bearer_scheme_is_accepted_in_any_case() {
    let test = spawn_app(SimEhrOptions::default(), |c| c).await;
    let admin = start_admin(&test, Some(TOKEN));
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let response = awc::Client::default()
            .get(format!("{}/healthz", admin.url()))
            .insert_header(("authorization", format!("{scheme} {TOKEN}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{scheme}");
    }
    let wrong = get(&admin.url(), "/healthz").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
}
