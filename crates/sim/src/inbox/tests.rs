//! Unit tests of the receiver's bookkeeping and scripted answers.

use super::*;

fn received(id: &str, answered: u16, verified: bool) -> Received {
    Received::sample(id, answered, verified)
}

fn control_with(requests: Vec<Received>) -> ReceiverControl {
    let control = ReceiverControl::new(true);
    for request in requests {
        control.record(request);
    }
    control
}

#[test]
fn summary_counts_unique_deliveries_duplicates_and_failures() {
    let control = control_with(vec![
        received("a", 503, true),
        received("a", 200, true),
        received("b", 204, true),
        received("a", 200, true),
        received("c", 401, false),
    ]);
    let summary = control.summary();
    assert_eq!(
        summary,
        Summary {
            delivered: 2,
            duplicates: 1,
            failures: 2,
            all_verified: false,
        }
    );
    assert_eq!(summary.to_string(), "delivered=2 duplicates=1 failures=2");
    assert_eq!(control.unique_accepted_ids(), 2);
    assert_eq!(control.accepted().len(), 3);
}

#[test]
fn script_answers_in_order_then_falls_back_to_always_or_200() {
    let control = control_with(Vec::new());
    control.respond_with(vec![500, 503]);
    control.respond_with_retry_after(429, 5, 1);
    let statuses: Vec<u16> = (0..4)
        .map(|_| control.next_answer(true, &Value::Null).status)
        .collect();
    assert_eq!(statuses, [500, 503, 429, 200]);
    control.respond_with(vec![502]);
    control.always(410);
    assert_eq!(control.next_answer(true, &Value::Null).status, 410);
    assert_eq!(control.next_answer(false, &Value::Null).status, 401);
}

#[test]
fn random_failures_replace_successes_only_at_about_the_rate() {
    let control = control_with(Vec::new());
    control.fail_randomly(0.25);
    control.respond_with(vec![201]);
    assert_eq!(
        control.next_answer(true, &Value::Null).status,
        201,
        "the script comes first"
    );
    let failed = (0..4000)
        .filter(|_| control.next_answer(true, &Value::Null).status == 500)
        .count();
    assert!((800..1200).contains(&failed), "{failed} of 4000 failed");
    control.always(503);
    assert!((0..100).all(|_| control.next_answer(true, &Value::Null).status == 503));
    control.fail_randomly(0.0);
    control.always(200);
    assert!((0..100).all(|_| control.next_answer(true, &Value::Null).status == 200));
}

#[test]
fn without_keep_requests_only_the_counts_and_the_ledger_are_kept() {
    let control = ReceiverControl::new(false);
    for request in [
        received("a", 200, true),
        received("a", 200, true),
        received("b", 500, true),
    ] {
        control.record(request);
    }
    assert!(control.received().is_empty());
    assert_eq!(
        control.summary(),
        Summary {
            delivered: 1,
            duplicates: 1,
            failures: 1,
            all_verified: true,
        }
    );
    assert_eq!(control.with_ledger(|ledger| ledger.distinct()), 1);
}

#[test]
fn a_refused_key_is_answered_with_its_status_until_lifted() {
    let control = control_with(Vec::new());
    let about = |key: &str| serde_json::json!({"data": {"key": key}});
    control.refuse_key("appt-1", 503);
    control.respond_with(vec![201]);
    assert_eq!(control.next_answer(true, &about("appt-1")).status, 503);
    assert_eq!(control.next_answer(true, &about("appt-2")).status, 201);
    control.refuse_key("appt-1", 200);
    assert_eq!(control.next_answer(true, &about("appt-1")).status, 200);
}
