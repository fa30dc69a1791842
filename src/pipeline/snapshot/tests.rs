//! The listing driver against a scripted lister (the seam where sources differ) and real
//! stores: what each listing notifies, and that a failed page, an inconsistent listing, a
//! restart and time passing never turn into false removals.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::*;
use crate::clock::ManualClock;
use crate::config::Initial;
use crate::ehr::fixtures;
use crate::ehr::snapshot::diff::{Events, PrefixEvents};
use crate::ehr::snapshot::listing::ListedPage;
use crate::ehr::snapshot::Listed;
use crate::ehr::EhrError;
use crate::fhir::events::Fingerprint;
use crate::window::{TimeExpr, Window};

/// A scripted record: key, status, and start in hours from the listing's start.
type Row = (&'static str, &'static str, i64);

/// A lister that serves `pages` of records (key, status, start offset in hours from the
/// listing's start), the window being `[now-1d, now+14d)`.
struct Script {
    events: PrefixEvents<'static>,
    initial: Initial,
    /// Each page's records; replaced between listings by the test.
    pages: RefCell<Vec<Vec<Row>>>,
    /// The next read of this page index fails once.
    fail_page: Cell<Option<usize>>,
    /// A removal's read by id answers this (None: the source has no such read).
    gone: Cell<Option<bool>>,
    /// The listing's start, as rendered into the query.
    now: RefCell<Option<DateTime<Utc>>>,
    reads: Cell<usize>,
}

impl Script {
    fn new(initial: Initial) -> Self {
        Self {
            events: PrefixEvents {
                prefix: "appointment",
            },
            initial,
            pages: RefCell::new(Vec::new()),
            fail_page: Cell::new(None),
            gone: Cell::new(None),
            now: RefCell::new(None),
            reads: Cell::new(0),
        }
    }

    fn set(&self, pages: Vec<Vec<Row>>) {
        *self.pages.borrow_mut() = pages;
    }

    fn listed(&self, (key, status, hours): (&str, &str, i64)) -> Listed {
        let start = self.now.borrow().unwrap() + chrono::Duration::hours(hours);
        let record = json!({"id": key, "status": status, "start": start.to_rfc3339()});
        let pointers = ["/status".to_owned(), "/start".to_owned()];
        Listed {
            key: key.to_owned(),
            date: start.timestamp(),
            fingerprint: Fingerprint::of_pointers(&record, &pointers),
            record,
        }
    }
}

impl Lister for Script {
    fn scope(&self) -> &str {
        ""
    }

    fn window(&self) -> Window {
        Window {
            start: TimeExpr::parse("now-1d").unwrap(),
            end: TimeExpr::parse("now+14d").unwrap(),
        }
    }

    fn initial(&self) -> Initial {
        self.initial
    }

    fn events(&self) -> &dyn Events {
        &self.events
    }

    fn query(&self, now: DateTime<Utc>) -> String {
        *self.now.borrow_mut() = Some(now);
        format!("from={now}")
    }

    async fn page(
        &self,
        _client: &EhrClient,
        _query: &str,
        position: &Position,
    ) -> Result<ListedPage, EhrError> {
        self.reads.set(self.reads.get() + 1);
        let index = match position {
            Position::First => 0,
            Position::Offset(index) => *index,
            Position::Link(_) => unreachable!("the script pages by index"),
        };
        if self.fail_page.get() == Some(index) {
            self.fail_page.set(None);
            return Err(EhrError::Shape {
                path: "/schedule".into(),
                reason: "scripted failure".into(),
            });
        }
        let pages = self.pages.borrow();
        let records = pages[index].iter().map(|r| self.listed(*r)).collect();
        let next = (index + 1 < pages.len()).then_some(Position::Offset(index + 1));
        Ok(ListedPage {
            records,
            next,
            total: None,
        })
    }

    async fn confirm(&self, _client: &EhrClient, _key: &str) -> Result<Confirmed, EhrError> {
        Ok(match self.gone.get() {
            None => Confirmed::Unread,
            Some(true) => Confirmed::Gone,
            Some(false) => unreachable!("the script only answers gone or unread"),
        })
    }
}

/// A store, a client on a manual clock and a fresh listing state: one generation.
struct Rig {
    store: Store,
    config: ConnectionConfig,
    client: EhrClient,
    clock: ManualClock,
    state: ListingState,
}

impl Rig {
    fn new(store: Store) -> Self {
        let config = fixtures::connection();
        let clock = ManualClock::stopped_at("2026-12-06T12:00:00Z".parse().unwrap());
        let client = EhrClient::new(&config).with_clock(clock.clock());
        Self {
            store,
            config,
            client,
            clock,
            state: ListingState::default(),
        }
    }

    fn ctx(&self) -> Ctx<'_> {
        Ctx {
            config: &self.config,
            client: &self.client,
            store: &self.store,
        }
    }

    /// Polls until the listing ends; answers (type, key) of every notification, in order.
    async fn list(&self, lister: &Script) -> Vec<(String, String)> {
        let mut events = Vec::new();
        for _ in 0..100 {
            let step = match poll_listing(lister, &self.state, &self.ctx()).await {
                Ok(step) => step,
                Err(PollError::Ehr(_)) => continue,
                Err(err) => panic!("{err}"),
            };
            events.extend(step.containers.into_iter().map(|c| (c.event_type, c.key)));
            if step.done {
                return events;
            }
        }
        panic!("the listing never ended");
    }
}

fn named(events: &[(&str, &str)]) -> Vec<(String, String)> {
    let full = |(kind, key): &(&str, &str)| (format!("appointment.{kind}"), (*key).to_owned());
    events.iter().map(full).collect()
}

crate::store::contract::contract!(
    a_baseline_notifies_nothing_then_each_change_is_notified_once,
    a_first_listing_that_notifies_sends_every_record_as_a_backfill,
    a_page_that_fails_mid_listing_is_read_again_and_removes_nothing_early,
    an_inconsistent_listing_removes_nothing_until_a_consistent_one,
    a_record_that_left_the_window_by_time_is_forgotten_silently,
    a_restart_mid_listing_repeats_nothing,
    a_removal_read_by_id_as_gone_is_a_deletion,
    a_sweep_walks_more_records_than_one_page,
);

async fn a_baseline_notifies_nothing_then_each_change_is_notified_once(store: Store) {
    let rig = Rig::new(store);
    let lister = Script::new(Initial::Baseline);
    lister.set(vec![
        vec![("a", "booked", 1), ("b", "booked", 2)],
        vec![("c", "booked", 3)],
    ]);
    assert_eq!(rig.list(&lister).await, named(&[]));
    lister.set(vec![
        vec![("a", "cancelled", 1), ("d", "booked", 4)],
        vec![("c", "booked", 3)],
    ]);
    let events = rig.list(&lister).await;
    assert_eq!(
        events,
        named(&[("updated", "a"), ("created", "d"), ("removed", "b")])
    );
    assert_eq!(rig.list(&lister).await, named(&[]), "nothing changed since");
}

async fn a_first_listing_that_notifies_sends_every_record_as_a_backfill(store: Store) {
    let rig = Rig::new(store.clone());
    let lister = Script::new(Initial::Notify);
    lister.set(vec![vec![("a", "booked", 1), ("b", "booked", 2)]]);
    assert_eq!(
        rig.list(&lister).await,
        named(&[("created", "a"), ("created", "b")])
    );
    let page = store.pending_page(&rig.config.id, 1, 10).await.unwrap();
    assert!(page.items.iter().all(|c| c.as_ref().unwrap().backfill));
    lister.set(vec![vec![
        ("a", "booked", 1),
        ("b", "booked", 2),
        ("c", "booked", 1),
    ]]);
    rig.list(&lister).await;
    let page = store.pending_page(&rig.config.id, 3, 10).await.unwrap();
    assert!(
        !page.items[0].as_ref().unwrap().backfill,
        "later listings are news"
    );
}

async fn a_page_that_fails_mid_listing_is_read_again_and_removes_nothing_early(store: Store) {
    let rig = Rig::new(store);
    let lister = Script::new(Initial::Baseline);
    let pages = vec![vec![("a", "booked", 1)], vec![("b", "booked", 2)]];
    lister.set(pages.clone());
    rig.list(&lister).await;
    lister.fail_page.set(Some(1));
    let first = poll_listing(&lister, &rig.state, &rig.ctx()).await.unwrap();
    assert!(!first.done);
    let failed = poll_listing(&lister, &rig.state, &rig.ctx()).await;
    assert!(matches!(failed, Err(PollError::Ehr(_))));
    assert_eq!(
        rig.list(&lister).await,
        named(&[]),
        "b was on the failed page"
    );
}

async fn an_inconsistent_listing_removes_nothing_until_a_consistent_one(store: Store) {
    let rig = Rig::new(store);
    let lister = Script::new(Initial::Baseline);
    lister.set(vec![
        vec![("a", "booked", 1), ("b", "booked", 2)],
        vec![("c", "booked", 3)],
    ]);
    rig.list(&lister).await;
    // Offset paging over live data: `a` went, so `c` shifted onto page 1 and `b` was read
    // twice; `d` (new) and the removal of `a` must wait for a listing that adds up.
    lister.set(vec![
        vec![("b", "booked", 2), ("c", "booked", 3)],
        vec![("c", "booked", 3)],
    ]);
    assert_eq!(rig.list(&lister).await, named(&[]));
    assert_eq!(rig.state.warnings().len(), 1, "{:?}", rig.state.warnings());
    lister.set(vec![vec![("b", "booked", 2), ("c", "booked", 3)]]);
    assert_eq!(rig.list(&lister).await, named(&[("removed", "a")]));
    assert!(rig.state.warnings().is_empty());
}

async fn a_record_that_left_the_window_by_time_is_forgotten_silently(store: Store) {
    let rig = Rig::new(store.clone());
    let lister = Script::new(Initial::Baseline);
    lister.set(vec![vec![("a", "booked", -20), ("b", "booked", 30)]]);
    rig.list(&lister).await;
    rig.clock.advance(Duration::from_secs(6 * 3600));
    // Six hours later `a` (20 h ago at the first listing) is 26 h in the past: outside.
    lister.set(vec![vec![("b", "booked", 24)]]);
    assert_eq!(rig.list(&lister).await, named(&[]));
    let left = store
        .scan_records(&rig.config.id, "", None, 10)
        .await
        .unwrap();
    let keys: Vec<&str> = left.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["", "b"], "a forgotten, the marker and b kept");
}

async fn a_restart_mid_listing_repeats_nothing(store: Store) {
    let rig = Rig::new(store.clone());
    let lister = Script::new(Initial::Baseline);
    lister.set(vec![vec![("a", "booked", 1)], vec![("b", "booked", 2)]]);
    rig.list(&lister).await;
    lister.set(vec![
        vec![("a", "cancelled", 1)],
        vec![("b", "cancelled", 2)],
    ]);
    let first = poll_listing(&lister, &rig.state, &rig.ctx()).await.unwrap();
    assert_eq!(first.containers.len(), 1, "a's update is durable");
    let restarted = Rig::new(store);
    let events = restarted.list(&lister).await;
    assert_eq!(
        events,
        named(&[("updated", "b")]),
        "a is not notified again"
    );
}

async fn a_removal_read_by_id_as_gone_is_a_deletion(store: Store) {
    let rig = Rig::new(store);
    let lister = Script::new(Initial::Baseline);
    lister.set(vec![vec![("a", "booked", 1), ("b", "booked", 2)]]);
    rig.list(&lister).await;
    lister.gone.set(Some(true));
    lister.set(vec![vec![("b", "booked", 2)]]);
    assert_eq!(rig.list(&lister).await, named(&[("deleted", "a")]));
    lister.set(vec![vec![("a", "booked", 1), ("b", "booked", 2)]]);
    assert_eq!(
        rig.list(&lister).await,
        named(&[("created", "a")]),
        "back again"
    );
}

async fn a_sweep_walks_more_records_than_one_page(store: Store) {
    let rig = Rig::new(store);
    let lister = Script::new(Initial::Baseline);
    let keys: Vec<&'static str> = (0..SWEEP_PAGE + 10)
        .map(|n| &*Box::leak(format!("r{n:05}").into_boxed_str()))
        .collect();
    lister.set(vec![keys.iter().map(|k| (*k, "booked", 5)).collect()]);
    rig.list(&lister).await;
    let kept: HashMap<&str, ()> = keys[..5].iter().map(|k| (*k, ())).collect();
    lister.set(vec![keys[..5].iter().map(|k| (*k, "booked", 5)).collect()]);
    let events = rig.list(&lister).await;
    assert_eq!(events.len(), SWEEP_PAGE + 5);
    assert!(events
        .iter()
        .all(|(kind, key)| kind == "appointment.removed" && !kept.contains_key(key.as_str())));
}
