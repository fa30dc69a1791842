//! A full disk under the store: Courier stops storing, says so (status, metrics, readiness),
//! never sends a delivered notification again while it cannot mark it delivered, and heals
//! by itself once the disk has room, delivering everything the polls saw.

use std::time::Duration;

use courier::app::AppOptions;
use courier_sim::disk::Tmpfs;
use courier_sim::{Route, SimEhrOptions};

use crate::support::admin::{get, start_admin};
use crate::support::app::{eventually, spawn_app_storing_in, TestApp, PATIENCE};
use crate::support::process::Rig;

/// Long enough for a re-open after the disk has room (at most 5 s apart) and the deliveries.
const HEALED_WITHIN: Duration = Duration::from_secs(20);

/// A tmpfs large enough for the store's files; `None`, saying why, where none can be mounted
/// (not root).
fn tmpfs(test: &str) -> Option<Tmpfs> {
    Tmpfs::mount(64)
        .map_err(|err| eprintln!("SKIPPED {test}: no tmpfs to fill: {err}"))
        .ok()
}

/// The app, with its store on a tmpfs of its own.
async fn app_on_tmpfs(test: &str, ehr: SimEhrOptions) -> Option<(Tmpfs, TestApp)> {
    let disk = tmpfs(test)?;
    let store = disk.path("store");
    let t = spawn_app_storing_in(Some(&store), ehr, AppOptions::default(), "", |ehr| {
        vec![crate::support::app::ConnectionSpec::new("clinic-a", ehr)]
    })
    .await;
    Some((disk, t))
}

fn no_changes() -> SimEhrOptions {
    SimEhrOptions::default()
}

fn add_appointments(t: &TestApp, count: usize) {
    for _ in 0..count {
        t.ehr.control().add_appointment();
    }
}

fn store_fault(t: &TestApp) -> Option<courier::store::StoreFault> {
    t.app.status().store.fault
}

#[actix_rt::test]
async fn a_full_disk_stops_the_store_visibly_and_courier_heals_once_space_returns() {
    let Some((disk, t)) = app_on_tmpfs("disk_full::heals", no_changes()).await else {
        return;
    };
    let admin = start_admin(&t, None);
    let base = admin.url();
    eventually("a first poll", PATIENCE, || {
        t.connection("clinic-a").polls_ok > 0
    })
    .await;

    let filler = disk.fill().unwrap();
    add_appointments(&t, 300);
    let changes = t.ehr.control().change_count() as usize;
    eventually("the store fails", PATIENCE, || store_fault(&t).is_some()).await;

    // Not ready, and why; the backlog is unknown rather than 0; the metrics say so.
    let ready = get(&base, "/readyz").await;
    assert_eq!(ready.status.as_u16(), 503, "{}", ready.text);
    assert!(ready.text.contains("store: unavailable"), "{}", ready.text);
    let status: serde_json::Value =
        serde_json::from_str(&get(&base, "/status").await.text).unwrap();
    assert!(status["store"]["fault"]["error"].is_string(), "{status}");
    assert!(
        status["destinations"]["app"]["backlog"].is_null(),
        "{status}"
    );
    assert!(
        status["connections"]["clinic-a"]["backlog"].is_null(),
        "{status}"
    );
    let metrics = get(&base, "/metrics").await.text;
    assert!(metrics.contains("courier_store_up 0"), "{metrics}");
    assert!(
        !metrics.contains("courier_containers_pending{"),
        "{metrics}"
    );
    let error = t.connection("clinic-a").last_error.unwrap_or_default();
    assert!(
        error.contains("store"),
        "the connection shows the store's fault: {error}"
    );

    filler.remove().unwrap();
    let delivered = t
        .receiver
        .control()
        .wait_for_distinct(changes, HEALED_WITHIN)
        .await;
    let summary = t.receiver.control().summary();
    assert!(
        delivered,
        "{} of {changes} delivered after the disk had room",
        summary.delivered
    );
    eventually("the store is back", PATIENCE, || store_fault(&t).is_none()).await;
    assert_eq!(t.app.status().store.faults_total, 1);
    assert_eq!(get(&base, "/readyz").await.status.as_u16(), 200);
    assert!(get(&base, "/metrics")
        .await
        .text
        .contains("courier_store_up 1"));
    assert!(summary.all_verified);
    assert!(
        summary.duplicates <= changes / 10,
        "{} duplicates of {changes}",
        summary.duplicates
    );
    admin.stop().await;
}

#[actix_rt::test]
async fn a_delivery_that_cannot_be_marked_delivered_is_held_not_sent_again() {
    let Some((disk, t)) = app_on_tmpfs("disk_full::held", no_changes()).await else {
        return;
    };
    let receiver = t.receiver.control();
    receiver.always(503);
    add_appointments(&t, 200);
    let changes = t.ehr.control().change_count();
    // Stored, none delivered: the destination is failing and only probed.
    eventually("the changes are stored", PATIENCE, || {
        t.connection("clinic-a").changes == changes
    })
    .await;

    let filler = disk.fill().unwrap();
    receiver.always(200);
    // The first acknowledged deliveries cannot be marked delivered once the disk refuses the
    // store's writes; while it does, none is sent again.
    eventually("the store fails", PATIENCE, || store_fault(&t).is_some()).await;
    let sent_at_fault = receiver.received().len();
    eventually("three re-opens tried on the full disk", PATIENCE, || {
        store_fault(&t).is_some_and(|fault| fault.reopen_attempts >= 3)
    })
    .await;
    let sent_while_full = receiver.received().len() - sent_at_fault;
    assert!(
        sent_while_full <= 20,
        "{sent_while_full} requests while the store could not mark anything delivered"
    );

    filler.remove().unwrap();
    let all = receiver
        .wait_for_distinct(changes as usize, HEALED_WITHIN)
        .await;
    let summary = receiver.summary();
    assert!(
        all,
        "{} of {changes} delivered after the disk had room",
        summary.delivered
    );
    eventually("nothing pending", PATIENCE, || {
        t.app.store().pending_count() == 0
    })
    .await;
    assert!(
        summary.duplicates <= 50,
        "{} duplicates of {changes}",
        summary.duplicates
    );
}

#[actix_rt::test]
async fn sigterm_exits_with_74_when_the_final_flush_fails() {
    let Some(disk) = tmpfs("disk_full::sigterm") else {
        return;
    };
    let mut rig = Rig::new(SimEhrOptions::default(), "");
    std::fs::create_dir(disk.path("store")).unwrap();
    std::os::unix::fs::symlink(disk.path("store"), rig.dir.path().join("store")).unwrap();
    let courier = rig.start();
    eventually("a first poll", PATIENCE, || {
        rig.ehr.control().requests(Route::Feed) > 0
    })
    .await;

    let _filler = disk.fill().unwrap();
    for _ in 0..50 {
        rig.ehr.control().add_appointment();
    }
    eventually("the store's fault is logged", PATIENCE, || {
        rig.log_text().contains("is re-opened, tried every")
    })
    .await;
    let (status, _) = courier.terminate().await;
    assert_eq!(status.code(), Some(74), "{status}");
}
