//! `/readyz` while a connection restarts: 503 with the reason, then 200 again. The restart is
//! a panic injected by `actors::faults`, which exists only in the crate's own tests (no EHR
//! fault restarts a connection: those back off).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use courier_sim::SimEhrOptions;
use serde_json::{json, Value};

use crate::actors::faults::panic_polls_of;
use crate::app::rig::{eventually, Rig, PATIENCE};

/// `GET /readyz` of the admin API at `base`: its status and JSON body.
async fn readyz(base: &str) -> (u16, Value) {
    let mut response = awc::Client::default()
        .get(format!("{base}/readyz"))
        .send()
        .await
        .expect("the admin API answers");
    let body = response.json::<Value>().await.expect("a JSON body");
    (response.status().as_u16(), body)
}

#[actix_rt::test]
async fn readyz_answers_503_with_the_reason_while_a_connection_restarts() {
    let failing = Arc::new(AtomicBool::new(false));
    let trigger = Arc::clone(&failing);
    let _armed = panic_polls_of("clinic-a", move || trigger.load(Ordering::Relaxed));
    let quiet = SimEhrOptions {
        initial_changes: 0,
        ..SimEhrOptions::default()
    };
    let test = Rig::start(&["clinic-a"], quiet);
    let admin = test.admin();
    eventually("the first poll", PATIENCE, || {
        test.app.status().connections["clinic-a"].polls_ok > 0
    })
    .await;
    failing.store(true, Ordering::Relaxed);
    let deadline = Instant::now() + PATIENCE;
    let refused = loop {
        let (status, body) = readyz(&admin.url()).await;
        if status == 503 {
            break body;
        }
        assert!(Instant::now() < deadline, "never unready");
        actix_rt::time::sleep(Duration::from_millis(5)).await;
    };
    assert_eq!(refused["ready"], false);
    assert_eq!(
        refused["reasons"],
        json!(["connection clinic-a: restarting after a failure"])
    );
    failing.store(false, Ordering::Relaxed);
    let deadline = Instant::now() + PATIENCE;
    while readyz(&admin.url()).await.0 != 200 {
        assert!(Instant::now() < deadline, "never ready again");
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
}
