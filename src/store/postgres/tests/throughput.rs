//! Throughput of the PostgreSQL store's hot path: pages of 100 committed, their
//! notifications completed in one batch each (and retained), by several connections at once,
//! as an instance's pollers and delivery workers do. A figure to read, not an assertion:
//! `cargo test -p courier --lib throughput -- --ignored --nocapture`.

use std::time::{Duration, Instant};

use chrono::Utc;

use super::single_writer;
use crate::model::Notification;
use crate::store::contract::{commit, item};
use crate::store::{Delivered, Retain, Store};

/// Connections writing at once (one thread each, as actix workers would).
const CONNECTIONS: usize = 8;
/// Items per page, as a full page of a changes feed.
const PAGE: u64 = 100;
/// Pages each connection commits and completes.
const PAGES: u64 = 50;

/// Commits and completes `PAGES` pages of connection `conn`.
async fn run_connection(store: Store, conn: String) {
    for page in 0..PAGES {
        let items: Vec<_> = (1..=PAGE)
            .map(|i| item(&format!("k{page}-{i}"), page * PAGE + i))
            .collect();
        let containers = commit(&store, &conn, &items).await.unwrap();
        let notifications: Vec<Notification> = containers
            .iter()
            .map(|c| Notification::build(c, &serde_json::Map::new(), &[]))
            .collect();
        let delivered: Vec<Delivered<'_>> = notifications
            .iter()
            .map(|notification| Delivered {
                notification,
                at: Utc::now(),
            })
            .collect();
        let retain = Retain {
            destination: "d",
            keep: Duration::from_secs(3600),
        };
        store.complete(&delivered, Some(retain)).await.unwrap();
    }
}

#[test]
#[ignore = "a measurement: run it on its own with --nocapture"]
fn commits_and_completions_of_pages_of_100_per_second() {
    let (_database, store, _) = single_writer("throughput");
    let started = Instant::now();
    let threads: Vec<_> = (0..CONNECTIONS)
        .map(|n| {
            let store = store.clone();
            std::thread::spawn(move || {
                actix_rt::System::new().block_on(run_connection(store, format!("c{n}")))
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let elapsed = started.elapsed();
    let notifications = CONNECTIONS as u64 * PAGES * PAGE;
    println!(
        "postgres store: {notifications} notifications committed, completed and retained \
         in {:.2} s by {CONNECTIONS} connections: {:.0} notifications/s",
        elapsed.as_secs_f64(),
        notifications as f64 / elapsed.as_secs_f64()
    );
    assert_eq!(store.pending_count(), 0);
}
