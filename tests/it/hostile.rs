//! Hostile and broken EHR answers against Courier's real actors (issue 5): one EHR answers its
//! feed, then its detail requests, with every fault in turn while changes keep coming, and
//! another EHR stays healthy. Each fault must show in status and be retried with backoff, the
//! cursor must never pass a change that is not durable, and once the EHR recovers every change
//! arrives exactly once in a gap-free sequence, while the healthy connection never notices.
//!
//! Between two requests of the faulty EHR, its request observer takes a snapshot of Courier's
//! status and store: whatever Courier made of request N is recorded by the time request N+1
//! arrives, so each fault's outcome is read deterministically instead of sampled.

mod checks;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use courier::app::{App, AppOptions};
use courier::store::Store;
use courier_sim::{EhrControl, Fault, ReceiverControl, Route, SimEhr, SimEhrOptions, SimReceiver};
use futures_util::FutureExt;

use checks::{changes, delivered_by, Seen};

use crate::support::app::{
    config_text, eventually, parse_config, spawn_app, start_receiver, ConnectionSpec, PATIENCE,
};

/// The faulty connection's request timeout: short, so hangs and stalls cost little.
const TIMEOUT: Duration = Duration::from_millis(400);
/// How long a hung request would take to answer: far past the timeout.
const HANG: Duration = Duration::from_secs(2);
/// Its backoff: 20 ms doubling up to 100 ms, each ±20 %, so a whole route's faults take
/// about a second and a half.
const BACKOFF_MIN: Duration = Duration::from_millis(20);
/// The backoff's cap, which also caps an honoured `Retry-After`.
const BACKOFF_MAX: Duration = Duration::from_millis(100);
/// Its response size limit, far below the huge body.
const MAX_RESPONSE_BYTES: u64 = 64 * 1024;
/// Changes waiting in each EHR before Courier starts.
const BACKLOG: usize = 6;

/// What Courier must make of a faulty answer.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Verdict {
    /// Refuse it: the request fails with an error containing this text, shown in status, and
    /// is retried after a backoff.
    Refused(&'static str),
    /// Use it: the body is the right JSON.
    Accepted,
}

/// The faults each route (feed, details) serves in turn, with Courier's verdict.
///
/// A `WrongContentType` answer carries the right JSON under `text/plain`. Courier parses by
/// body and checks the shape it needs, so it accepts it, and that is the decision asserted
/// here: EHRs and their gateways mislabel JSON (`text/plain`, `text/html`), and refusing a
/// correct, fully validated body would wedge a connection for a label. An HTML page or any
/// other non-JSON is still refused, by the parser.
fn faults() -> Vec<(Fault, Verdict)> {
    let retry_after = Fault::TooManyRequests {
        retry_after_secs: 1,
    };
    let mut faults = vec![
        (retry_after, Verdict::Refused("HTTP 429")),
        (Fault::Status(500), Verdict::Refused("HTTP 500")),
        (Fault::Status(502), Verdict::Refused("HTTP 502")),
        (Fault::Status(503), Verdict::Refused("HTTP 503")),
        (Fault::Status(429), Verdict::Refused("HTTP 429")),
        (Fault::Hang(HANG), Verdict::Refused("timed out")),
        // awc ends a body at the connection's close without checking its Content-Length;
        // Courier compares the length it read, so status names the cause.
        (
            Fault::HalfBody,
            Verdict::Refused("incomplete: the connection closed"),
        ),
        (Fault::Stall, Verdict::Refused("timed out")),
        (Fault::Garbage, Verdict::Refused("not valid JSON")),
        (Fault::HtmlOk, Verdict::Refused("not valid JSON")),
        (
            Fault::HugeBody { bytes: 4 << 20 },
            Verdict::Refused("response larger than 65536 bytes"),
        ),
        (Fault::RedirectLoop, Verdict::Refused("HTTP 302")),
    ];
    // On details, the wrong shape comes last but one, so a garbled answer that was kept (not
    // refused) would show in a delivered notification rather than be re-fetched.
    faults.push((Fault::WrongShape, Verdict::Refused("unexpected shape")));
    faults.push((Fault::WrongContentType, Verdict::Accepted));
    faults
}

/// Two EHRs, one receiver, Courier with connections `faulty` and `healthy`.
struct Run {
    app: Arc<App>,
    faulty: SimEhr,
    healthy: SimEhr,
    receiver: SimReceiver,
    secret: String,
    record: Record,
    _dir: tempfile::TempDir,
}

/// The (key, version) of every change an EHR made.
type Changes = Arc<Mutex<BTreeSet<(String, String)>>>;

/// What the faulty EHR's observer records, for the test to read afterwards.
#[derive(Clone, Default)]
struct Record {
    faulty_changes: Changes,
    healthy_changes: Changes,
    seen: Arc<Mutex<Vec<Seen>>>,
}

/// Changes the next appointment in turn and remembers the change.
fn touch(ehr: &EhrControl, changes: &Changes) {
    let mut changes = changes.lock().unwrap();
    let id = format!("appt-{}", changes.len() % ehr.appointment_count() + 1);
    let seq = ehr.touch(&id);
    changes.insert((id, seq.to_string()));
}

/// Whether request `number` of a route is one that fails: changes keep coming meanwhile.
fn fails(number: u64) -> bool {
    let faults = faults();
    usize::try_from(number)
        .ok()
        .and_then(|n| faults.get(n.checked_sub(1)?))
        .is_some_and(|(_, verdict)| matches!(verdict, Verdict::Refused(_)))
}

fn start() -> Run {
    let faulty = SimEhr::start(SimEhrOptions::default()).unwrap();
    let healthy = SimEhr::start(SimEhrOptions::default()).unwrap();
    let record = Record::default();
    for _ in 0..BACKLOG {
        touch(&faulty, &record.faulty_changes);
        touch(&healthy, &record.healthy_changes);
    }
    for route in [Route::Feed, Route::Details] {
        for (fault, _) in faults() {
            faulty.inject(route, fault, 1);
        }
    }
    let (receiver, secret) = start_receiver();
    let dir = tempfile::tempdir().unwrap();
    let specs = [
        ConnectionSpec::new("faulty", &faulty)
            .with("request_timeout_ms", TIMEOUT.as_millis().to_string())
            .with("body_timeout_ms", TIMEOUT.as_millis().to_string())
            .with("backoff_min_ms", BACKOFF_MIN.as_millis().to_string())
            .with("backoff_max_secs", BACKOFF_MAX.as_secs_f64().to_string())
            .with("max_response_bytes", MAX_RESPONSE_BYTES.to_string())
            // One enrichment at a time: detail request N+1 follows Courier's reaction to N.
            .with("max_concurrent_enrichments", "1"),
        ConnectionSpec::new("healthy", &healthy)
            .with("request_timeout_ms", TIMEOUT.as_millis().to_string())
            .with("body_timeout_ms", TIMEOUT.as_millis().to_string()),
    ];
    let config = parse_config(
        &config_text(dir.path(), &receiver.url(), "", &specs),
        &secret,
    );
    let store = Store::open(dir.path()).unwrap();
    // The observer is in place before Courier starts; the app joins it once started.
    let app_cell: Arc<OnceLock<Arc<App>>> = Arc::new(OnceLock::new());
    faulty.on_request(observer(
        (&faulty, &healthy, &receiver),
        store.clone(),
        Arc::clone(&app_cell),
        record.clone(),
    ));
    let app = Arc::new(App::start(config, store, AppOptions::default()));
    app_cell.set(Arc::clone(&app)).ok().expect("set once");
    Run {
        app,
        faulty,
        healthy,
        receiver,
        secret,
        record,
        _dir: dir,
    }
}

/// The faulty EHR's observer: snapshots Courier, and while a request is about to fail, makes
/// one more change on each EHR (the healthy one only during the feed's outage).
fn observer(
    (faulty, healthy, receiver): (&SimEhr, &SimEhr, &SimReceiver),
    store: Store,
    app: Arc<OnceLock<Arc<App>>>,
    record: Record,
) -> impl Fn(Route, u64) + Send + Sync + 'static {
    let (faulty, healthy) = (faulty.control(), healthy.control());
    let receiver: ReceiverControl = receiver.control();
    move |route, number| {
        // Called by the simulated EHR, not awaited: the sled store answers at once.
        let state = store.connection_state("faulty", "0").now_or_never();
        let state = state.expect("answered at once").unwrap();
        record.seen.lock().unwrap().push(Seen {
            route,
            number,
            at: Instant::now(),
            status: app
                .get()
                .and_then(|app| app.status().connections.get("faulty").cloned()),
            cursor: state.cursor.value.as_str().parse().unwrap(),
            durable: state.next_sequence - 1,
            healthy_delivered: delivered_by(&receiver, "healthy").len(),
        });
        if fails(number) {
            touch(&faulty, &record.faulty_changes);
            if route == Route::Feed {
                touch(&healthy, &record.healthy_changes);
            }
        }
    }
}

#[actix_rt::test]
async fn every_hostile_answer_is_shown_retried_and_loses_nothing_while_the_other_connection_flows()
{
    let run = start();
    let (feed_faults, detail_faults) = (faults().len(), faults().len());
    let patience = PATIENCE * 3;
    eventually(
        "every fault served, and a request after each route's last",
        patience,
        || {
            run.faulty.requests(Route::Feed) > feed_faults as u64
                && run.faulty.requests(Route::Details) > detail_faults as u64
        },
    )
    .await;
    let faulty_expected = run.record.faulty_changes.lock().unwrap().clone();
    let healthy_expected = run.record.healthy_changes.lock().unwrap().clone();
    eventually("every change of both EHRs delivered", patience, || {
        changes(&delivered_by(&run.receiver, "faulty")) == faulty_expected
            && changes(&delivered_by(&run.receiver, "healthy")) == healthy_expected
    })
    .await;

    let seen = run.record.seen.lock().unwrap().clone();
    checks::cursor_never_passes_unseen_data(&seen, feed_faults as u64);
    let mut outcomes = checks::each_fault(Route::Feed, &seen);
    outcomes.extend(checks::each_fault(Route::Details, &seen));
    for outcome in &outcomes {
        println!("{}", outcome.line);
    }
    checks::errors_carry_no_body(&outcomes, &run.healthy.base_url(), &run.secret).await;

    let faulty = delivered_by(&run.receiver, "faulty");
    checks::delivered_once_in_sequence(&faulty, &faulty_expected);
    let healthy = delivered_by(&run.receiver, "healthy");
    checks::delivered_once_in_sequence(&healthy, &healthy_expected);
    let summary = run.receiver.summary();
    assert_eq!(summary.duplicates, 0);
    assert!(summary.all_verified);
    // A garbled detail answer is refused and re-fetched, never delivered as the record.
    let malformed = checks::malformed_records(&faulty);
    assert!(
        malformed.is_empty(),
        "delivered with a garbled record: {malformed:?}"
    );

    final_status_shows_recovery_and_isolation(&run);
    // The healthy connection delivered while the faulty one was still failing.
    let recovering = seen
        .iter()
        .find(|s| s.route == Route::Feed && s.number == feed_faults as u64)
        .expect("the feed's last fault was observed");
    assert!(recovering.healthy_delivered >= BACKLOG);

    println!(
        "hostile run: faults injected={} ({feed_faults} feed, {detail_faults} details), \
         notifications expected={} ({} faulty, {} healthy), delivered={}, duplicates={}, \
         healthy delivered during the feed outage={}, malformed={}",
        feed_faults + detail_faults,
        faulty_expected.len() + healthy_expected.len(),
        faulty_expected.len(),
        healthy_expected.len(),
        summary.delivered,
        summary.duplicates,
        recovering.healthy_delivered,
        malformed.len(),
    );
}

/// Each refused fault counted once and cleared by the recovery; nothing restarted; the
/// healthy connection never saw a failure.
fn final_status_shows_recovery_and_isolation(run: &Run) {
    let status = run.app.status();
    let faulty = &status.connections["faulty"];
    let refused = faults()
        .iter()
        .filter(|(_, verdict)| matches!(verdict, Verdict::Refused(_)))
        .count() as u64;
    assert_eq!(
        faulty.polls_failed, refused,
        "each refused feed answer, once"
    );
    assert_eq!(
        faulty.enrich_failures, refused,
        "each refused detail answer, once"
    );
    assert_eq!(faulty.last_error, None, "cleared by the recovery");
    assert_eq!(faulty.enrich_error, None, "cleared by the recovery");
    assert_eq!((faulty.consecutive_failures, faulty.restarts), (0, 0));
    let healthy = &status.connections["healthy"];
    let failures = (healthy.polls_failed, healthy.enrich_failures);
    assert_eq!(failures, (0, 0), "the healthy connection never noticed");
    assert_eq!(healthy.restarts, 0);
}

#[actix_rt::test]
async fn a_detail_answer_of_the_wrong_shape_is_refused_and_retried() {
    let t = spawn_app(SimEhrOptions::default(), |c| c).await;
    // The appointment comes back as `[{...}]` instead of `{...}`.
    t.ehr.inject(Route::Details, Fault::WrongShape, 1);
    t.ehr.touch("appt-1");
    assert!(t.receiver.wait_for_accepted(1, PATIENCE).await);
    let data = &t.receiver.accepted()[0].json["data"];
    let appointment = &data["resources"]["appointment"];
    assert!(
        appointment.is_object(),
        "delivered as the record: {appointment}"
    );
    assert_eq!(t.connection("clinic-a").enrich_failures, 1);
}
