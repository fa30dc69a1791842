//! Both simulated servers exercised over real HTTP, as Courier and the integration tests use them.

use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use serde_json::{json, Value};

use super::*;
use courier_wire::SigningKey;

async fn get(url: &str) -> (StatusCode, awc::http::header::HeaderMap, Vec<u8>) {
    let mut response = awc::Client::default().get(url).send().await.unwrap();
    let body = response.body().await.unwrap().to_vec();
    (response.status(), response.headers().clone(), body)
}

async fn get_json(url: &str) -> (StatusCode, Value) {
    let (status, _, body) = get(url).await;
    (status, serde_json::from_slice(&body).unwrap())
}

fn seqs(page: &Value) -> Vec<u64> {
    let items = page.as_array().expect("the feed answers an array");
    items
        .iter()
        .map(|item| item["seq"].as_u64().unwrap())
        .collect()
}

fn ehr(initial_changes: usize) -> SimEhr {
    SimEhr::start(SimEhrOptions {
        patients: 3,
        appointments: 5,
        initial_changes,
        ..SimEhrOptions::default()
    })
    .unwrap()
}

#[actix_rt::test]
async fn feed_pages_by_integer_since_in_ascending_seq_with_a_date_header() {
    let ehr = ehr(5);
    let (status, headers, body) = get(&format!("{}/appointments/changed", ehr.base_url())).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers.contains_key("date"));
    assert_eq!(
        seqs(&serde_json::from_slice(&body).unwrap()),
        [1, 2, 3, 4, 5]
    );
    let url = format!("{}/appointments/changed?since=2&limit=2", ehr.base_url());
    let (_, page) = get_json(&url).await;
    assert_eq!(seqs(&page), [3, 4]);
    let item = &page[0];
    assert!(item["id"].as_str().unwrap().starts_with("appt-"));
    assert!(item["patientId"].as_str().unwrap().starts_with("pat-"));
    assert!(chrono::DateTime::parse_from_rfc3339(item["ts"].as_str().unwrap()).is_ok());
    ehr.stop().await;
}

#[actix_rt::test]
async fn feed_with_a_time_since_returns_ties_again() {
    let ehr = ehr(0);
    ehr.touch_at("appt-1", "2030-01-01T00:00:00.000Z");
    ehr.touch_at("appt-2", "2030-01-01T00:00:01.000Z");
    ehr.touch_at("appt-3", "2030-01-01T00:00:01.000Z");
    let url = format!(
        "{}/appointments/changed?since=2030-01-01T00:00:01.000Z",
        ehr.base_url()
    );
    assert_eq!(seqs(&get_json(&url).await.1), [2, 3]);
    ehr.stop().await;
}

#[actix_rt::test]
async fn feed_refuses_an_unreadable_since_with_400() {
    let ehr = ehr(1);
    let url = format!("{}/appointments/changed?since=yesterday", ehr.base_url());
    let (status, body) = get_json(&url).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["resourceType"], "OperationOutcome");
    ehr.stop().await;
}

#[actix_rt::test]
async fn records_are_minimal_fhir_and_unknown_ids_are_404_json() {
    let ehr = ehr(0);
    ehr.touch("appt-2");
    let (status, appointment) = get_json(&format!("{}/appointments/appt-2", ehr.base_url())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(appointment["resourceType"], "Appointment");
    assert_eq!(appointment["meta"]["versionId"], "2");
    let patient_id = appointment["patient"]["id"].as_str().unwrap().to_owned();
    let (_, patient) = get_json(&format!("{}/patients/{patient_id}", ehr.base_url())).await;
    assert_eq!(patient["resourceType"], "Patient");
    assert!(patient["name"][0]["given"].is_array() && patient["birthDate"].is_string());
    let (status, missing) = get_json(&format!("{}/patients/pat-99", ehr.base_url())).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(missing["issue"][0]["code"], "not-found");
    assert_eq!(ehr.requests(Route::Details), 3);
    ehr.stop().await;
}

#[actix_rt::test]
async fn injected_faults_are_served_in_order_then_normal_answers_resume() {
    let ehr = ehr(2);
    ehr.inject(Route::Feed, Fault::Status(503), 1);
    ehr.inject(
        Route::Feed,
        Fault::TooManyRequests {
            retry_after_secs: 9,
        },
        1,
    );
    ehr.inject(Route::Feed, Fault::Garbage, 1);
    ehr.inject(Route::Feed, Fault::WrongShape, 1);
    ehr.inject(Route::Feed, Fault::MissingKey, 1);
    let url = format!("{}/appointments/changed", ehr.base_url());
    let (status, _, body) = get(&url).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["status"],
        503
    );
    let (status, headers, _) = get(&url).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers.get("retry-after").unwrap(), "9");
    let (status, _, body) = get(&url).await;
    assert_eq!(status, StatusCode::OK);
    assert!(serde_json::from_slice::<Value>(&body).is_err());
    assert!(get_json(&url).await.1.is_object());
    let (_, page) = get_json(&url).await;
    assert!(page
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i.get("id").is_none()));
    assert_eq!(seqs(&get_json(&url).await.1), [1, 2]);
    assert_eq!(ehr.requests(Route::Feed), 6);
    assert_eq!(ehr.pending_faults(Route::Feed), 0);
    ehr.stop().await;
}

#[actix_rt::test]
async fn a_hang_outlasts_a_client_timeout_then_answers_resume() {
    let ehr = ehr(1);
    ehr.inject(Route::Details, Fault::Hang(Duration::from_secs(5)), 1);
    let client = awc::Client::builder()
        .timeout(Duration::from_millis(200))
        .finish();
    let url = format!("{}/appointments/appt-1", ehr.base_url());
    assert!(client.get(&url).send().await.is_err());
    let response = client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    ehr.stop().await;
}

#[actix_rt::test]
async fn latency_delays_every_answer() {
    let ehr = ehr(0);
    ehr.set_latency(Duration::from_millis(150));
    let started = Instant::now();
    get(&format!("{}/patients/pat-1", ehr.base_url())).await;
    assert!(started.elapsed() >= Duration::from_millis(150));
    ehr.stop().await;
}

#[actix_rt::test]
async fn change_every_keeps_touching_appointments() {
    let ehr = SimEhr::start(SimEhrOptions {
        change_every: Some(Duration::from_millis(10)),
        ..SimEhrOptions::default()
    })
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while ehr.change_count() < 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(ehr.change_count() >= 3);
    let added = ehr.add_appointment();
    assert_eq!(added, "appt-21");
    assert_eq!(ehr.appointment_count(), 21);
    assert_eq!(ehr.version(&added), Some(1));
    ehr.stop().await;
}

#[actix_rt::test]
async fn options_the_sim_cannot_honour_are_refused() {
    let no_patients = SimEhrOptions {
        patients: 0,
        ..SimEhrOptions::default()
    };
    let busy_loop = SimEhrOptions {
        change_every: Some(Duration::ZERO),
        ..SimEhrOptions::default()
    };
    for options in [no_patients, busy_loop] {
        let error = SimEhr::start(options).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    }
    let bad_secret = ReceiverOptions::new("not-a-secret");
    let error = SimReceiver::start(bad_secret).unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
}

fn receiver(secret: &str) -> SimReceiver {
    SimReceiver::start(ReceiverOptions::new(secret)).unwrap()
}

/// Posts `body` signed with `secret`, as Courier's sender does, and returns the status.
async fn post_signed(url: &str, secret: &str, id: &str, body: Vec<u8>) -> StatusCode {
    let now = chrono::Utc::now().timestamp();
    let signature = SigningKey::from_secret(secret)
        .unwrap()
        .sign(id, now, &body);
    let response = awc::Client::default()
        .post(url)
        .insert_header(("webhook-id", id))
        .insert_header(("webhook-timestamp", now.to_string()))
        .insert_header(("webhook-signature", signature))
        .send_body(body)
        .await
        .unwrap();
    response.status()
}

fn notification(sequence: u64) -> Vec<u8> {
    let body = json!({"type": "appointment.updated", "data": {"sequence": sequence}});
    serde_json::to_vec(&body).unwrap()
}

#[actix_rt::test]
async fn receiver_accepts_a_correctly_signed_request_and_refuses_a_wrong_one() {
    let secret = SigningKey::generate_secret();
    let receiver = receiver(&secret);
    let status = post_signed(&receiver.url(), &secret, "msg_a", notification(1)).await;
    assert_eq!(status, StatusCode::OK);
    let wrong = SigningKey::generate_secret();
    let status = post_signed(&receiver.url(), &wrong, "msg_b", notification(2)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let received = receiver.received();
    assert_eq!(received.len(), 2);
    assert!(received[0].verified && !received[1].verified);
    assert_eq!(received[0].body, notification(1));
    assert_eq!(received[0].json["data"]["sequence"], 1);
    let summary = receiver.summary();
    assert_eq!(summary.to_string(), "delivered=1 duplicates=0 failures=1");
    assert!(!summary.all_verified);
    receiver.stop().await;
}

#[actix_rt::test]
async fn receiver_answers_scripted_statuses_then_200_and_counts_duplicates() {
    let secret = SigningKey::generate_secret();
    let receiver = receiver(&secret);
    receiver.respond_with(vec![500, 302]);
    receiver.respond_with_retry_after(503, 4, 1);
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(post_signed(&receiver.url(), &secret, "msg_x", notification(1)).await);
    }
    let codes: Vec<u16> = statuses.iter().map(StatusCode::as_u16).collect();
    assert_eq!(codes, [500, 302, 503, 200, 200]);
    assert_eq!(receiver.accepted().len(), 2);
    assert_eq!(receiver.unique_accepted_ids(), 1);
    let summary = receiver.summary();
    assert_eq!((summary.duplicates, summary.failures), (1, 3));
    assert!(summary.all_verified);
    receiver.stop().await;
}

#[actix_rt::test]
async fn receiver_sends_retry_after_and_honours_always() {
    let secret = SigningKey::generate_secret();
    let receiver = receiver(&secret);
    receiver.respond_with_retry_after(429, 3, 1);
    let now = chrono::Utc::now().timestamp();
    let body = notification(1);
    let signature = SigningKey::from_secret(&secret)
        .unwrap()
        .sign("m", now, &body);
    let response = awc::Client::default()
        .post(receiver.url())
        .insert_header(("webhook-id", "m"))
        .insert_header(("webhook-timestamp", now.to_string()))
        .insert_header(("webhook-signature", signature))
        .send_body(body)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers().get("retry-after").unwrap(), "3");
    receiver.always(410);
    let status = post_signed(&receiver.url(), &secret, "m", notification(1)).await;
    assert_eq!(status, StatusCode::GONE);
    receiver.stop().await;
}

#[actix_rt::test]
async fn receiver_accepts_bodies_larger_than_the_actix_default_limit() {
    let secret = SigningKey::generate_secret();
    let receiver = receiver(&secret);
    let big = serde_json::to_vec(&json!({"data": {"blob": "x".repeat(1 << 20)}})).unwrap();
    let status = post_signed(&receiver.url(), &secret, "msg_big", big.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(receiver.received()[0].body, big);
    receiver.stop().await;
}

#[actix_rt::test]
async fn wait_for_accepted_wakes_on_arrival_and_gives_up_at_the_deadline() {
    let secret = SigningKey::generate_secret();
    let receiver = receiver(&secret);
    assert!(
        !receiver
            .wait_for_accepted(1, Duration::from_millis(50))
            .await
    );
    let url = receiver.url();
    let sender_secret = secret.clone();
    actix_rt::spawn(async move {
        for n in 0..3 {
            post_signed(&url, &sender_secret, &format!("msg_{n}"), notification(n)).await;
        }
    });
    let started = Instant::now();
    assert!(receiver.wait_for_accepted(3, Duration::from_secs(10)).await);
    assert!(started.elapsed() < Duration::from_secs(10));
    receiver.stop().await;
}
