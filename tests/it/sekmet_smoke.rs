//! The sekmet-fhir harness against the real server: what it stores, how its changes can be
//! listed (what Courier can poll), and that its `bearer` and `smart` modes refuse requests
//! without valid credentials.

use std::time::Duration;

use serde_json::{json, Value};

use courier::app::{App, AppOptions};
use courier::store::Store;

use crate::support::app::{config_text, eventually, parse_config, start_receiver, PATIENCE};
use crate::support::sekmet::{
    appointment, history_connection, patient, ClientAuth, Sekmet, SekmetAuth, SekmetOptions,
};
use courier_sim::wait::until_blocking;

fn last_updated(resource: &Value) -> String {
    resource["meta"]["lastUpdated"].as_str().unwrap().to_owned()
}

/// `(id or fullUrl, method, lastModified)` of each entry of a history bundle, in order.
fn history(sekmet: &Sekmet, path: &str) -> Vec<(String, String, String)> {
    let reply = sekmet.get(path);
    assert_eq!(reply.status, 200, "{path}: {}", reply.text());
    let bundle = reply.json();
    assert_eq!(bundle["type"], "history");
    let entries = bundle["entry"].as_array().cloned().unwrap_or_default();
    entries
        .iter()
        .map(|e| {
            let id = e["resource"]["id"].as_str().or(e["fullUrl"].as_str());
            let text = |v: &Value| v.as_str().unwrap().to_owned();
            let method = text(&e["request"]["method"]);
            (
                id.unwrap().to_owned(),
                method,
                text(&e["response"]["lastModified"]),
            )
        })
        .collect()
}

/// Ids of the matches of a search, in order.
fn search_ids(sekmet: &Sekmet, path: &str) -> Vec<String> {
    let reply = sekmet.get(path);
    assert_eq!(reply.status, 200, "{path}: {}", reply.text());
    let bundle = reply.json();
    let entries = bundle["entry"].as_array().cloned().unwrap_or_default();
    entries
        .iter()
        .map(|e| e["resource"]["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn open_server_stores_resources_and_lists_their_changes_by_history_and_last_updated() {
    let sekmet = Sekmet::start(SekmetAuth::None);
    sekmet.put(&patient("p1"));
    let booked = sekmet.put(&appointment("a1", "p1", "booked"));
    assert_eq!(booked["meta"]["versionId"], "1");
    let read = sekmet.get("/Appointment/a1");
    assert_eq!(
        read.json()["participant"][0]["actor"]["reference"],
        "Patient/p1"
    );
    assert!(read.header("date").is_some(), "a Date header for cursors");
    // An enrichment template encodes a whole reference as one segment; sekmet decodes it.
    assert_eq!(sekmet.get("/Patient%2Fp1").json()["id"], "p1");
    let metadata = sekmet.get("/metadata").json();
    assert_eq!(metadata["fhirVersion"], "4.0.1");
    let rest = &metadata["rest"][0];
    let appointments = rest["resource"].as_array().unwrap().iter();
    let interactions = appointments
        .filter(|r| r["type"] == "Appointment")
        .flat_map(|r| r["interaction"].as_array().unwrap().clone())
        .collect::<Vec<_>>();
    assert!(interactions.contains(&json!({"code": "history-type"})));

    let t0 = last_updated(&booked);
    let cancelled = sekmet.put(&appointment("a1", "p1", "cancelled"));
    assert_eq!(cancelled["meta"]["versionId"], "2");
    sekmet.put(&appointment("a2", "p1", "booked"));
    sekmet.delete("Appointment", "a2");
    assert_eq!(sekmet.get("/Appointment/a2").status, 410);

    // Type history: every version and the delete, newest first, `_since` inclusive.
    let changes = history(&sekmet, &format!("/Appointment/_history?_since={t0}"));
    let a2_url = format!("{}/Appointment/a2", sekmet.base_url());
    let summary: Vec<(&str, &str)> = changes
        .iter()
        .map(|(id, method, _)| (id.as_str(), method.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            (a2_url.as_str(), "DELETE"),
            ("a2", "PUT"),
            ("a1", "PUT"),
            ("a1", "PUT")
        ],
        "a DELETE entry has no resource, only its fullUrl"
    );
    let times: Vec<&str> = changes.iter().map(|(_, _, t)| t.as_str()).collect();
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {times:?}"
    );
    assert_eq!(times.last(), Some(&t0.as_str()), "`_since` is inclusive");
    assert_eq!(history(&sekmet, "/Appointment/_history?_since=0").len(), 4);
    // `_since` compares as text: a seconds-only time sorts after that second's instants.
    let second = format!("{}Z", &t0[..19]);
    let seconds = history(&sekmet, &format!("/Appointment/_history?_since={second}"));
    assert!(seconds.iter().all(|(_, _, t)| t[..19] > t0[..19]));

    // `_lastUpdated` search: current versions only, `ge` inclusive, no prefix = exact match.
    let t1 = last_updated(&cancelled);
    let sorted = "&_sort=_lastUpdated&_count=100";
    assert_eq!(
        search_ids(
            &sekmet,
            &format!("/Appointment?_lastUpdated=ge{t0}{sorted}")
        ),
        ["a1"]
    );
    assert_eq!(
        search_ids(
            &sekmet,
            &format!("/Appointment?_lastUpdated=ge{t1}{sorted}")
        ),
        ["a1"]
    );
    assert!(search_ids(&sekmet, &format!("/Appointment?_lastUpdated=gt{t1}")).is_empty());
    assert!(
        search_ids(&sekmet, &format!("/Appointment?_lastUpdated={t0}")).is_empty(),
        "without a prefix the value must match exactly"
    );
}

#[test]
fn bearer_server_refuses_requests_without_its_token() {
    let token = "static-token-123";
    let sekmet = Sekmet::start(SekmetAuth::Bearer {
        token: token.to_owned(),
    });
    sekmet.put(&patient("p1"));
    let without = sekmet.request_as("GET", "/Patient/p1", None, None);
    assert_eq!(without.status, 401, "{}", without.text());
    assert!(without.header("www-authenticate").is_some());
    let wrong = sekmet.request_as("GET", "/Patient/p1", Some("Bearer other"), None);
    assert_eq!(wrong.status, 401);
    let right = sekmet.request_as("GET", "/Patient/p1", Some(&format!("Bearer {token}")), None);
    assert_eq!(right.status, 200, "{}", right.text());
    assert_eq!(
        sekmet.request_as("GET", "/metadata", None, None).status,
        200
    );
}

fn smart_courier() -> SekmetAuth {
    SekmetAuth::Smart {
        client_id: "courier".to_owned(),
        client_secret: "courier-secret".to_owned(),
        scopes: "system/Appointment.rs system/Patient.rs".to_owned(),
    }
}

fn access_token(reply: &crate::support::loopback_http::Reply) -> String {
    assert_eq!(reply.status, 200, "token: {}", reply.text());
    let json = reply.json();
    assert_eq!(json["token_type"], "bearer");
    format!("Bearer {}", json["access_token"].as_str().unwrap())
}

#[test]
fn smart_server_grants_client_credentials_tokens_and_enforces_their_scopes() {
    let sekmet = Sekmet::start(smart_courier());
    sekmet.put(&patient("p1"));
    sekmet.put(&appointment("a1", "p1", "booked"));
    let metadata = sekmet.request_as("GET", "/metadata", None, None).json();
    let oauth = &metadata["rest"][0]["security"]["extension"][0]["extension"][0];
    assert_eq!(oauth["valueUri"], sekmet.token_url().as_str());
    assert_eq!(
        sekmet.request_as("GET", "/Patient/p1", None, None).status,
        401
    );

    let reply = sekmet.request_token("courier", "courier-secret", None, ClientAuth::Basic);
    assert_eq!(reply.json()["expires_in"], 3600);
    assert_eq!(
        reply.json()["scope"],
        "system/Appointment.rs system/Patient.rs"
    );
    let token = access_token(&reply);
    let get = |path: &str, token: &str| sekmet.request_as("GET", path, Some(token), None).status;
    assert_eq!(get("/Patient/p1", &token), 200);
    assert_eq!(get("/Appointment/_history?_since=0", &token), 200);
    assert_eq!(
        get("/_history", &token),
        403,
        "system history needs system/*.rs"
    );
    let write = sekmet.request_as("PUT", "/Patient/p1", Some(&token), Some(&patient("p1")));
    assert_eq!(write.status, 403, "read scopes do not allow an update");

    let reply = sekmet.request_token(
        "courier",
        "courier-secret",
        Some("system/Patient.rs"),
        ClientAuth::Post,
    );
    let narrow = access_token(&reply);
    assert_eq!(get("/Patient/p1", &narrow), 200);
    assert_eq!(get("/Appointment/a1", &narrow), 403);

    let wrong = sekmet.request_token("courier", "nope", None, ClientAuth::Basic);
    assert_eq!(
        (wrong.status, wrong.json()["error"].clone()),
        (401, json!("invalid_client"))
    );
    let scope = Some("system/Observation.rs");
    let outside = sekmet.request_token("courier", "courier-secret", scope, ClientAuth::Post);
    assert_eq!(
        (outside.status, outside.json()["error"].clone()),
        (400, json!("invalid_scope"))
    );
    assert_eq!(get("/Patient/p1", "Bearer not-a-jwt"), 401);
}

#[test]
fn smart_tokens_expire_after_the_configured_lifetime() {
    let sekmet = Sekmet::start_with(SekmetOptions {
        auth: smart_courier(),
        token_lifetime_secs: 2,
    });
    sekmet.put(&patient("p1"));
    let reply = sekmet.request_token("courier", "courier-secret", None, ClientAuth::Basic);
    assert_eq!(reply.json()["expires_in"], 2);
    let token = access_token(&reply);
    // `exp` is whole seconds after `iat`, so the token lives for 1 to 2 s.
    let status = || sekmet.request_as("GET", "/Patient/p1", Some(&token), None);
    assert_eq!(status().status, 200);
    let refused = until_blocking(Duration::from_secs(5), Duration::from_millis(100), || {
        Some(status()).filter(|reply| reply.status != 200)
    });
    let expired = refused.unwrap_or_else(status);
    assert_eq!(expired.status, 401, "{}", expired.text());
    assert!(expired.text().contains("expired"), "{}", expired.text());
}

#[actix_rt::test]
async fn changes_source_delivers_every_version_and_delete_from_sekmet_type_history() {
    let sekmet = Sekmet::start(SekmetAuth::None);
    sekmet.put(&patient("p1"));
    sekmet.put(&appointment("a1", "p1", "booked"));
    sekmet.put(&appointment("a1", "p1", "cancelled"));
    let (receiver, secret) = start_receiver();
    let dir = tempfile::tempdir().unwrap();
    let text = config_text(dir.path(), &receiver.url(), "", &[]);
    let text = format!("{text}\n{}", history_connection(&sekmet.base_url(), ""));
    let store = Store::open(dir.path()).unwrap();
    let _app = App::start(parse_config(&text, &secret), store, AppOptions::default());
    eventually("the two versions already there", PATIENCE, || {
        receiver.unique_accepted_ids() == 2
    })
    .await;
    sekmet.put(&appointment("a2", "p1", "booked"));
    sekmet.delete("Appointment", "a2");
    eventually("a2's creation and deletion", PATIENCE, || {
        receiver.unique_accepted_ids() == 4
    })
    .await;

    let summary = receiver.summary();
    assert_eq!((summary.delivered, summary.duplicates), (4, 0));
    let mut seen: Vec<String> = receiver
        .accepted()
        .iter()
        .map(|r| {
            let data = &r.json["data"];
            let id = data["key"].as_str().unwrap().rsplit('/').next().unwrap();
            let method = data["change"]["request"]["method"].as_str().unwrap();
            let status = data["change"]["resource"]["status"].as_str().unwrap_or("-");
            let patient = data["resources"].get("patient").map(|p| &p["id"]);
            let patient = patient.and_then(Value::as_str).unwrap_or("-");
            let version = data["version"].as_str().unwrap();
            format!("{id} {version} {method} {status} patient={patient}")
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            r#"a1 W/"1" PUT booked patient=p1"#,
            r#"a1 W/"2" PUT cancelled patient=p1"#,
            r#"a2 W/"1" PUT booked patient=p1"#,
            r#"a2 W/"2" DELETE - patient=-"#,
        ],
        "every version and the delete, the patient enriched through its reference"
    );
}
