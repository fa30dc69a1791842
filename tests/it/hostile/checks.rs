//! What the hostile run asserts, read from the snapshots the faulty EHR's observer took
//! between requests and from what the receiver got.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use courier::status::ConnectionStatus;
use courier_sim::faults::HTML_ERROR_PAGE;
use courier_sim::{Fault, ReceiverControl, Route, SimEhrOptions};
use serde_json::Value;

use super::{faults, Verdict, BACKOFF_MAX, BACKOFF_MIN, HANG, TIMEOUT};

/// The faulty connection as one request of its EHR found it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub route: Route,
    /// The request's number on its route.
    pub number: u64,
    pub at: Instant,
    /// The faulty connection's status; `None` only if the very first request beat the app.
    pub status: Option<ConnectionStatus>,
    /// The stored cursor.
    pub cursor: u64,
    /// Containers made durable so far (the store's next sequence minus one).
    pub durable: u64,
    /// Notifications of the healthy connection delivered so far.
    pub healthy_delivered: usize,
}

/// What the run showed for one fault: a line for the report, and the error shown in status.
pub struct Outcome {
    pub line: String,
    pub error: Option<String>,
}

/// The cursor never passes a change that is not durable, at any request; while the feed fails
/// (its first `outage` requests) it does not move at all.
pub fn cursor_never_passes_unseen_data(seen: &[Seen], outage: u64) {
    for s in seen {
        let (cursor, durable) = (s.cursor, s.durable);
        assert!(cursor <= durable, "cursor {cursor} past durable {durable}");
    }
    for s in seen
        .iter()
        .filter(|s| s.route == Route::Feed && s.number <= outage)
    {
        assert_eq!((s.cursor, s.durable), (0, 0), "feed request {}", s.number);
        let shown = s.status.as_ref().and_then(|status| status.cursor.clone());
        assert_eq!(shown, None, "feed request {}", s.number);
    }
}

/// Checks what Courier made of each fault of `route`, from the snapshots taken at the request
/// that followed it: counted and shown when refused, retried no sooner than the backoff allows,
/// not counted when accepted. Returns one outcome per fault.
pub fn each_fault(route: Route, seen: &[Seen]) -> Vec<Outcome> {
    let at = |number: u64| {
        seen.iter()
            .find(|s| s.route == route && s.number == number)
            .unwrap_or_else(|| panic!("{route:?} request {number} was observed"))
    };
    let mut consecutive = 0;
    let mut outcomes = Vec::new();
    for (index, (fault, verdict)) in faults().into_iter().enumerate() {
        let number = index as u64 + 1;
        let (before, after) = (at(number), at(number + 1));
        let ((failed_before, _), (failed_after, error)) =
            (failures(route, before), failures(route, after));
        let gap = after.at - before.at;
        let line = match verdict {
            Verdict::Refused(text) => {
                consecutive += 1;
                let what = format!("{route:?} {fault:?}");
                assert_eq!(failed_after, failed_before + 1, "{what} counted");
                let shown = error.clone().unwrap_or_default();
                assert!(shown.contains(text), "{what} shows {text:?}: {shown}");
                retried_with_backoff(&fault, consecutive, gap);
                format!("refused, status shows \"{shown}\", retried after {gap:.0?}")
            }
            Verdict::Accepted => {
                consecutive = 0;
                let what = format!("{route:?} {fault:?}");
                assert_eq!(failed_after, failed_before, "{what} not a failure");
                match verdict {
                    Verdict::Accepted => "accepted (the body is the right JSON)".to_owned(),
                    _ => "ACCEPTED, SHOULD BE REFUSED (product bug)".to_owned(),
                }
            }
        };
        let line = format!("{route:?} #{number} {fault:?}: {line}");
        outcomes.push(Outcome { line, error });
    }
    outcomes
}

/// The failures a snapshot counts on `route` and the error it shows; an app that was not up
/// yet has counted nothing.
fn failures(route: Route, seen: &Seen) -> (u64, Option<String>) {
    match (&seen.status, route) {
        (None, _) => (0, None),
        (Some(status), Route::Feed | Route::Listing) => {
            (status.polls_failed, status.last_error.clone())
        }
        (Some(status), Route::Details) => (status.enrich_failures, status.enrich_error.clone()),
    }
}

/// The retry came no sooner than the backoff after `consecutive` failures allows (or than a
/// capped `Retry-After`), and a hung or stalled request was given up at the timeout.
fn retried_with_backoff(fault: &Fault, consecutive: u32, gap: Duration) {
    let retry_after = match fault {
        Fault::TooManyRequests { retry_after_secs } => Some(Duration::from_secs(*retry_after_secs)),
        _ => None,
    };
    let least = least_backoff(consecutive, retry_after);
    assert!(
        gap >= least,
        "{fault:?} retried after {gap:?}, before {least:?}"
    );
    if matches!(fault, Fault::Hang(_) | Fault::Stall) {
        assert!(gap >= TIMEOUT, "{fault:?} waited for the timeout");
        assert!(gap < HANG, "{fault:?} given up at the timeout, not {gap:?}");
    }
}

/// The shortest wait the backoff allows after `failures` consecutive failures (jitter −20 %),
/// or after a `Retry-After` (capped by the maximum).
fn least_backoff(failures: u32, retry_after: Option<Duration>) -> Duration {
    let step = BACKOFF_MIN
        .saturating_mul(1 << (failures - 1).min(16))
        .min(BACKOFF_MAX);
    let wait = step.mul_f64(0.8);
    retry_after.map_or(wait, |asked| wait.max(asked.min(BACKOFF_MAX)))
}

/// No error text carries a byte of a body: not the HTML page, not a patient's details read
/// from `base_url` (an EHR serving the same generated data), not the destination `secret`.
pub async fn errors_carry_no_body(outcomes: &[Outcome], base_url: &str, secret: &str) {
    let patients = patient_details(base_url).await;
    let html_lines: Vec<&str> = HTML_ERROR_PAGE.lines().collect();
    for error in outcomes.iter().filter_map(|o| o.error.as_deref()) {
        assert!(!error.contains(secret));
        assert!(!html_lines.iter().any(|l| error.contains(l)), "{error}");
        assert!(!error.contains("<html"), "{error}");
        assert!(!error.contains("resourceType"), "{error}");
        for detail in &patients {
            assert!(!error.contains(detail.as_str()), "{error} names {detail}");
        }
    }
}

/// Every patient's names and birth date, read over the EHR's API.
async fn patient_details(base_url: &str) -> Vec<String> {
    let client = awc::Client::default();
    let mut details = Vec::new();
    for n in 1..=SimEhrOptions::default().patients {
        let mut response = client
            .get(format!("{base_url}/patients/pat-{n}"))
            .send()
            .await
            .unwrap();
        let patient: Value = response.json().await.unwrap();
        details.push(patient["name"][0]["family"].as_str().unwrap().to_owned());
        details.push(patient["name"][0]["given"][0].as_str().unwrap().to_owned());
        details.push(patient["birthDate"].as_str().unwrap().to_owned());
    }
    details
}

/// The notifications a connection got accepted, by request.
pub fn delivered_by(receiver: &ReceiverControl, connection: &str) -> Vec<Value> {
    receiver
        .accepted()
        .into_iter()
        .filter(|r| r.json["data"]["connection"] == connection)
        .map(|r| r.json)
        .collect()
}

/// Distinct (key, version) pairs of a connection's notifications.
pub fn changes(notifications: &[Value]) -> BTreeSet<(String, String)> {
    notifications
        .iter()
        .map(|n| {
            let text = |v: &Value| v.as_str().unwrap().to_owned();
            (text(&n["data"]["key"]), text(&n["data"]["version"]))
        })
        .collect()
}

/// Exactly the `expected` changes, each once, numbered 1..=N without a gap.
pub fn delivered_once_in_sequence(notifications: &[Value], expected: &BTreeSet<(String, String)>) {
    assert_eq!(&changes(notifications), expected);
    let mut sequences: Vec<u64> = notifications
        .iter()
        .map(|n| n["data"]["sequence"].as_u64().unwrap())
        .collect();
    sequences.sort_unstable();
    assert_eq!(sequences, (1..=expected.len() as u64).collect::<Vec<_>>());
}

/// Checks that every notification carries the appointment and patient it names, and returns
/// the sequences of those whose records are not even JSON objects.
pub fn malformed_records(notifications: &[Value]) -> Vec<u64> {
    let mut malformed = Vec::new();
    for notification in notifications {
        let data = &notification["data"];
        let resources = &data["resources"];
        let (appointment, patient) = (&resources["appointment"], &resources["patient"]);
        if !appointment.is_object() || !patient.is_object() {
            malformed.push(data["sequence"].as_u64().unwrap());
            continue;
        }
        assert_eq!(appointment["id"], data["key"]);
        assert_eq!(patient["id"], data["change"]["patientId"]);
    }
    malformed
}
