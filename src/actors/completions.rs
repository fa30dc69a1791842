//! The shell of [`crate::dispatch::completion`] on one worker: it feeds the machine each
//! acknowledged delivery and the end of the turn, writes the batches it answers to the store,
//! schedules the retries of a failed write, and releases the claims of what was written.
//! The delivery actor flushes it explicitly when its worker stops ([`Completions::flush`]).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::FutureExt;

use super::claims::Claim;
use crate::config::DestinationConfig;
use crate::dispatch::completion::{self, Acknowledged, Action, Event, RETRY_MAX, RETRY_MIN};
use crate::model::Notification;
use crate::retry::Backoff;
use crate::store::{Delivered, Retain, Store, StoreError};

/// The batches of one destination on one worker; cheap to clone (one machine, shared).
#[derive(Clone)]
pub struct Completions {
    shared: Rc<Shared>,
}

struct Shared {
    store: Store,
    destination: Arc<DestinationConfig>,
    machine: RefCell<completion::Completions<Claim>>,
}

impl Completions {
    /// The batches of deliveries to `destination`, completed in `store`.
    pub fn new(store: Store, destination: Arc<DestinationConfig>) -> Self {
        let backoff = Backoff::new(RETRY_MIN, RETRY_MAX);
        let machine = completion::Completions::new(&destination.id, backoff);
        Self {
            shared: Rc::new(Shared {
                store,
                destination,
                machine: RefCell::new(machine),
            }),
        }
    }

    /// Completes `notification`, acknowledged `at`, with the rest of this turn's batch:
    /// the first of a batch schedules the write after the deliveries that are ready now.
    /// Must run on an actix worker (it spawns there).
    pub fn complete(&self, notification: Notification, claim: Claim, at: DateTime<Utc>) {
        self.feed(Event::Acknowledged(Acknowledged {
            notification,
            at,
            claim,
        }));
    }

    /// Writes this turn's batch now: its worker stops, and the task that would have written
    /// it will not run.
    pub fn flush(&self) {
        self.feed(Event::Stopping);
    }

    /// Feeds `event`, then carries out what the machine answers, feeding back the outcome of
    /// each write.
    fn feed(&self, event: Event<Claim>) {
        let mut actions = VecDeque::from(self.shared.machine.borrow_mut().on(event));
        while let Some(action) = actions.pop_front() {
            match action {
                Action::AwaitTurn => self.later(None, Event::TurnOver),
                Action::Write(batch) => {
                    let written = match self.shared.store_batch(&batch) {
                        Ok(()) => Event::Written(batch),
                        Err(err) => Event::NotWritten(batch, err.to_string()),
                    };
                    actions.extend(self.shared.machine.borrow_mut().on(written));
                }
                Action::Release(batch) => {
                    // Out of the store: the next container of its key may go; a delivery also
                    // tells the connection's heartbeat it is not idle.
                    for Acknowledged { claim, .. } in batch {
                        claim.delivered();
                    }
                }
                Action::RetryIn(delay) => self.later(Some(delay), Event::RetryDue),
            }
        }
    }

    /// Feeds `event` from a task of this worker: after `delay`, or once the work that is
    /// ready now has run.
    fn later(&self, delay: Option<std::time::Duration>, event: Event<Claim>) {
        let this = self.clone();
        actix_rt::spawn(async move {
            if let Some(delay) = delay {
                actix_rt::time::sleep(delay).await;
            }
            this.feed(event);
        });
    }
}

impl Shared {
    /// Keeps the retained copies of `batch`, then forgets its containers. A retry after a
    /// failed removal keeps them again (a replay may send one twice, same id): a copy
    /// written to files that a write fault then took out of service may never reach the disk.
    fn store_batch(&self, batch: &[Acknowledged<Claim>]) -> Result<(), StoreError> {
        let dest = &self.destination;
        let delivered: Vec<Delivered<'_>> = batch
            .iter()
            .map(|a| Delivered {
                notification: &a.notification,
                at: a.at,
            })
            .collect();
        let retain = (!dest.retain.is_zero()).then_some(Retain {
            destination: &dest.id,
            keep: dest.retain,
        });
        // Written at once, also from `Drop` (a worker that stops): the embedded backends
        // complete synchronously. One that must wait counts as a failed write: the batch is
        // held with its claims and written again with backoff.
        let written = self.store.complete(&delivered, retain).now_or_never();
        written.unwrap_or_else(|| Err(StoreError::Unavailable("the store must wait".into())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::claims::tests::admit;
    use crate::actors::claims::Claims;
    use crate::actors::messages::Released;
    use crate::config::DeliveryOrder;
    use crate::delivery::gate::DestinationGate;
    use crate::model::{ChangeItem, Container, CursorValue};
    use crate::status::StatusBoard;

    const CONFIG: &str = r#"
[store]
path = "unused"

[destinations.app]
url = "http://127.0.0.1:9/hooks"
secret_env = "SECRET"
retain_hours = 1

[connections.c]
destination = "app"
source = "changes"
base_url = "http://127.0.0.1:9"
changes_path = "/changes"
key_pointer = "/id"
cursor_pointer = "/seq"
event_type = "appointment.updated"
"#;

    fn destination() -> Arc<DestinationConfig> {
        let env = |_: &str| Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned());
        let config = crate::config::parse(CONFIG, std::path::Path::new("t.toml"), &env).unwrap();
        Arc::new(config.destinations["app"].clone())
    }

    /// Commits one change of connection `c` per key, sequences from 1.
    async fn commit(store: &Store, keys: &[&str]) -> Vec<Container> {
        let items: Vec<ChangeItem> = (1..)
            .zip(keys)
            .map(|(seq, key)| ChangeItem {
                key: (*key).to_owned(),
                version: seq.to_string(),
                cursor: CursorValue(seq.to_string()),
                raw: serde_json::json!({"id": key, "seq": seq}),
                event_type: "t".into(),
            })
            .collect();
        let state = store.connection_state("c", "0").await.unwrap();
        let cursor = state.cursor.advanced_by(&items, false);
        store
            .commit_page("c", &state, &items, cursor, Utc::now())
            .await
            .unwrap()
    }

    fn claims(order: DeliveryOrder) -> Arc<Claims> {
        let gate = DestinationGate::new("app", 5, StatusBoard::default());
        Arc::new(Claims::new(order, Arc::new(gate)))
    }

    fn notification(container: &Container) -> Notification {
        Notification::build(container, &serde_json::Map::new(), &[])
    }

    /// Commits `count` changes of connection `c` (keys of their own) and claims each.
    async fn delivered(store: &Store, count: u64) -> (Arc<Claims>, Vec<(Notification, Claim)>) {
        let keys: Vec<String> = (1..=count).map(|seq| format!("k{seq}")).collect();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let claims = claims(DeliveryOrder::None);
        let claimed = commit(store, &keys)
            .await
            .iter()
            .map(|container| (notification(container), admit(&claims, container).unwrap()))
            .collect();
        (claims, claimed)
    }

    /// A connection that notes, for each container it is told to dispatch next, whether
    /// container 1 was still pending at that moment.
    struct Connection {
        store: Store,
        told: Rc<RefCell<Vec<(u64, bool)>>>,
    }

    impl actix::Actor for Connection {
        type Context = actix::Context<Self>;
    }

    impl actix::Handler<Released> for Connection {
        type Result = ();
        fn handle(&mut self, msg: Released, _: &mut actix::Context<Self>) {
            if let Released::Next(claim) = msg {
                // The sled store answers at once: read now, at the moment of the release.
                let first_pending = self.store.is_pending("c", 1).now_or_never();
                let first_pending = first_pending.expect("answered at once").unwrap();
                self.told
                    .borrow_mut()
                    .push((claim.sequence(), first_pending));
                claim.finish();
            }
        }
    }

    #[actix_rt::test]
    async fn the_next_of_a_key_is_dispatched_once_the_one_before_left_the_store() {
        use actix::Actor;
        let store = Store::temporary().unwrap();
        let completions = Completions::new(store.clone(), destination());
        let containers = commit(&store, &["k", "k"]).await;
        let claims = claims(DeliveryOrder::PerKey { key_pointer: None });
        let told = Rc::default();
        let connection = Connection {
            store: store.clone(),
            told: Rc::clone(&told),
        };
        claims.begin_generation(connection.start().recipient());
        let first = admit(&claims, &containers[0]).unwrap();
        let waits = admit(&claims, &containers[1]).unwrap_err();
        assert_eq!(waits, [crate::dispatch::Action::Queued]);

        completions.complete(notification(&containers[0]), first, Utc::now());
        for _ in 0..100 {
            if !told.borrow().is_empty() {
                break;
            }
            actix_rt::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert_eq!(*told.borrow(), [(2, false)], "told of 2 once 1 was gone");
        assert!(store.is_pending("c", 2).await.unwrap());
    }

    #[actix_rt::test]
    async fn a_turns_deliveries_are_completed_together_once_the_turn_is_over() {
        let store = Store::temporary().unwrap();
        let completions = Completions::new(store.clone(), destination());
        let (claims, claimed) = delivered(&store, 3).await;
        let ids: Vec<String> = claimed.iter().map(|(n, _)| n.id.clone()).collect();
        for (notification, claim) in claimed {
            completions.complete(notification, claim, Utc::now());
        }
        // Still this turn: nothing written, so nothing released for another dispatch.
        assert_eq!(store.pending_count(), 3);
        assert!((1..=3).all(|seq| !claims.is_free(seq)));

        actix_rt::task::yield_now().await;
        assert_eq!(store.pending_count(), 0, "completed after the turn");
        assert!((1..=3).all(|seq| claims.is_free(seq)), "released after");
        assert!(claims.last_delivered().is_some());
        let range = crate::store::RetainedRange {
            destination: "app".into(),
            since: Utc::now() - chrono::Duration::minutes(1),
            until: None,
            connection: None,
        };
        let retained = crate::store::contract::read_retained(&store, &range).await;
        let retained: Vec<String> = retained.into_iter().map(|r| r.notification.id).collect();
        assert_eq!(retained, ids, "kept in delivery order");
    }

    #[actix_rt::test]
    async fn a_batch_that_cannot_be_written_keeps_its_claims_until_a_retry_writes_it() {
        let dir = tempfile::tempdir().unwrap();
        let sled = Arc::new(crate::store::sled::SledStore::open(dir.path()).unwrap());
        let store = Store::new(sled.clone());
        let completions = Completions::new(store.clone(), destination());
        let (claims, claimed) = delivered(&store, 2).await;
        sled.fail_for_test();
        for (notification, claim) in claimed {
            completions.complete(notification, claim, Utc::now());
        }
        actix_rt::task::yield_now().await;
        assert!(
            (1..=2).all(|seq| !claims.is_free(seq)),
            "held: a walk of the store must not send them again"
        );

        // The store re-opens itself; a retry then writes the batch and lets the claims go.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        while !(1..=2).all(|seq| claims.is_free(seq)) {
            assert!(std::time::Instant::now() < deadline, "never written");
            actix_rt::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(store.pending_count(), 0);
        assert_eq!(store.retained_count().await.unwrap(), 2, "kept once each");
    }

    #[test]
    fn a_batch_left_when_its_worker_stops_is_completed_by_the_stop() {
        let store = Store::temporary().unwrap();
        let system = actix_rt::System::new();
        system.block_on(async {
            let completions = Completions::new(store.clone(), destination());
            let (_claims, claimed) = delivered(&store, 2).await;
            for (notification, claim) in claimed {
                completions.complete(notification, claim, Utc::now());
            }
            assert_eq!(store.pending_count(), 2);
            // What the delivery actor does when its worker stops.
            completions.flush();
        });
        // The write's task never ran; the runtime drops it on the way out.
        drop(system);
        assert_eq!(store.pending_count(), 0);
        let retained = store
            .retained_count()
            .now_or_never()
            .expect("answered at once");
        assert_eq!(retained.unwrap(), 2);
    }
}
