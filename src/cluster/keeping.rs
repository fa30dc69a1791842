//! What the lease keeper does, as plain async code over the database and the supervisor's
//! inbox: one tick (renew, heartbeat, read, balance), the loss of a lease, the local
//! deadline, and the hand-back at a stop. The actor ([`super::keeper`]) only schedules it.
//!
//! The order that keeps one writer per connection: a lease taken is granted to the store
//! (its fence) before the connection starts here; a lease given up or lost is revoked from
//! the store (every write of the connection refused from then on) before the connection is
//! stopped and before the row is handed back.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::Recipient;
use chrono::Utc;

use super::balance::{self, View};
use super::board::ClusterBoard;
use super::leases::{Lease, Leases};
use super::members::{Member, Membership};
use super::mismatch::Reported;
use crate::actors::supervisor::{Disown, Own, RedispatchTo};
use crate::store::postgres::PgStore;
use crate::store::StoreError;

mod moves;
mod shown;

/// Where the keeper starts and stops connections: the supervisor's inbox.
#[derive(Clone)]
pub struct Hands {
    /// Start a connection whose lease was taken.
    pub own: Recipient<Own>,
    /// Stop a connection whose lease was given up or lost.
    pub disown: Recipient<Disown>,
    /// Walk a connection again (its dead letters were retried, from any instance).
    pub redispatch: Recipient<RedispatchTo>,
}

/// A lease this instance holds.
#[derive(Debug, Clone, Copy)]
struct Held {
    epoch: i64,
    /// The dead-letter retry counter last seen.
    redispatch: i64,
    /// When the statement that last took or renewed it started (this process's monotonic
    /// clock): the database set its expiry a lease after that moment or later, so until a
    /// lease after it the lease is surely still this instance's.
    valid_from: Instant,
}

/// The keeper's state; shared by the actor's timers, never borrowed across an await.
pub struct Keeping {
    pg: Arc<PgStore>,
    membership: Membership,
    leases: Leases,
    board: ClusterBoard,
    hands: Hands,
    lease: Duration,
    /// The hash of the configuration running now, kept in the members row.
    config_hash: RefCell<String>,
    connections: RefCell<Vec<String>>,
    held: RefCell<BTreeMap<String, Held>>,
    /// The lease rows of new connections still have to be created.
    rows_due: Cell<bool>,
    /// Stopping: leases are kept and renewed but none is taken.
    stopping: Cell<bool>,
    /// Handed back: nothing more is done.
    done: Cell<bool>,
    /// This instance's members row was taken by another instance of its name.
    evicted: Cell<bool>,
    joined: Cell<bool>,
    /// Whether the last tick failed (its error was logged).
    failing: Cell<bool>,
    /// Members already reported running another configuration.
    reported: RefCell<Reported>,
    /// One tick or hand-back at a time.
    turn: tokio::sync::Mutex<()>,
}

impl Keeping {
    /// The keeper of `membership` over `pg`, for `connections`, showing on `board`.
    pub fn new(
        pg: Arc<PgStore>,
        membership: Membership,
        board: ClusterBoard,
        hands: Hands,
        lease: Duration,
        connections: Vec<String>,
    ) -> Self {
        let leases = Leases::new(pg.db().clone(), membership.instance(), lease);
        let config_hash = board.snapshot().config_hash;
        Self {
            pg,
            membership,
            leases,
            board,
            hands,
            lease,
            config_hash: RefCell::new(config_hash),
            connections: RefCell::new(connections),
            held: RefCell::default(),
            rows_due: Cell::new(true),
            stopping: Cell::new(false),
            done: Cell::new(false),
            evicted: Cell::new(false),
            joined: Cell::new(false),
            failing: Cell::new(false),
            reported: RefCell::default(),
            turn: tokio::sync::Mutex::new(()),
        }
    }

    /// How often the keeper ticks: three renewals per lease.
    pub fn interval(&self) -> Duration {
        self.lease / 3
    }

    /// The configuration changed (a reload): its connections and its hash.
    pub fn reconfigure(&self, connections: Vec<String>, config_hash: String) {
        *self.connections.borrow_mut() = connections;
        self.board
            .update(|s| s.config_hash.clone_from(&config_hash));
        *self.config_hash.borrow_mut() = config_hash;
        self.rows_due.set(true);
    }

    /// No more leases are taken from now on (a stop has begun).
    pub fn stop_taking(&self) {
        self.stopping.set(true);
    }

    /// One tick: renew what is held, heartbeat, read the cluster, then take and hand back
    /// leases as the balance says. A tick that cannot finish within a lease gives up.
    pub async fn tick(&self) {
        let _turn = self.turn.lock().await;
        if self.done.get() {
            return;
        }
        let read = actix_rt::time::timeout(self.lease, self.renew_and_read()).await;
        let read = read.unwrap_or_else(|_| {
            Err(StoreError::Database(format!(
                "the database did not answer within the lease ({:?})",
                self.lease
            )))
        });
        self.watchdog();
        match read {
            Ok((members, leases)) => {
                self.show(&members, &leases);
                if !self.stopping.get() && !self.evicted.get() {
                    // A balance that hangs (a database gone mid-tick) must not hold off the
                    // next renewal.
                    let balanced = self.balance(&members, &leases);
                    if actix_rt::time::timeout(self.interval(), balanced)
                        .await
                        .is_err()
                    {
                        self.failed(&StoreError::Database("taking leases timed out".into()));
                    }
                }
            }
            Err(err) => self.failed(&err),
        }
    }

    async fn renew_and_read(&self) -> Result<(Vec<Member>, Vec<Lease>), StoreError> {
        if self.rows_due.get() {
            let connections = self.connections.borrow().clone();
            self.leases.ensure(&connections).await?;
            self.rows_due.set(false);
        }
        self.renew().await?;
        let hash = self.config_hash.borrow().clone();
        if !self.membership.heartbeat(&hash).await? && !self.evicted.replace(true) {
            log::error!(
                "cluster: another instance registered as {:?} after this one fell silent; this \
                 one stops taking leases: stop it, and give each instance its own --instance",
                self.membership.instance()
            );
            self.lose_all("its members row was taken");
        }
        let members = self.membership.read().await?;
        let leases = self.leases.read().await?;
        Ok((members, leases))
    }

    /// Renews every held lease in one statement; a held lease not renewed is lost.
    async fn renew(&self) -> Result<(), StoreError> {
        let started = Instant::now();
        let held: Vec<(String, i64)> = self
            .held
            .borrow()
            .iter()
            .map(|(c, h)| (c.clone(), h.epoch))
            .collect();
        if held.is_empty() {
            self.board.update(|s| s.renewed_at = Some(Utc::now()));
            return Ok(());
        }
        let renewed = self.leases.renew(&held).await?;
        let renewed: BTreeMap<String, i64> = renewed
            .into_iter()
            .map(|r| (r.connection, r.redispatch))
            .collect();
        let mut dropped = Vec::new();
        for (connection, epoch) in held {
            match renewed.get(&connection) {
                Some(&redispatch) => {
                    if !self.renewed(&connection, epoch, redispatch, started) {
                        dropped.push((connection, epoch));
                    }
                }
                None => self.lose(&connection, "not renewed: it lapsed or was taken over"),
            }
        }
        self.board.update(|s| s.renewed_at = Some(Utc::now()));
        if !dropped.is_empty() {
            // Given up here while the renewal was under way: free them for the others now
            // rather than when they lapse.
            self.leases.release(&dropped).await?;
        }
        Ok(())
    }

    /// Notes a renewal; `false` when the lease was given up here meanwhile.
    fn renewed(&self, connection: &str, epoch: i64, redispatch: i64, started: Instant) -> bool {
        let grown = {
            let mut held = self.held.borrow_mut();
            let Some(entry) = held.get_mut(connection).filter(|h| h.epoch == epoch) else {
                return false;
            };
            entry.valid_from = started;
            std::mem::replace(&mut entry.redispatch, redispatch) < redispatch
        };
        if grown {
            log::info!("conn={connection} has retried dead letters to deliver; walking it again");
            self.hands.redispatch.do_send(RedispatchTo {
                connection: connection.to_owned(),
            });
        }
        true
    }

    /// Drops every held lease whose last renewal started a lease ago or more: the database
    /// may have let it lapse, and another instance may have it now. Also drops those the
    /// store no longer lets this instance write (a connection's write was refused).
    pub fn watchdog(&self) {
        let fenced: BTreeSet<String> = self.pg.fences().held().into_iter().collect();
        let (late, refused): (Vec<String>, Vec<String>) = {
            let held = self.held.borrow();
            let late = held
                .iter()
                .filter(|(_, h)| h.valid_from.elapsed() >= self.lease);
            let refused = held.keys().filter(|c| !fenced.contains(*c));
            (
                late.map(|(c, _)| c.clone()).collect(),
                refused.cloned().collect(),
            )
        };
        for connection in late {
            self.lose(&connection, "not renewed within the lease");
        }
        for connection in refused {
            self.lose(&connection, "a write of it was refused");
        }
    }

    /// A connection found its lease gone (a write of it was refused).
    pub fn fenced(&self, connection: &str) {
        self.lose(connection, "a write of it was refused");
    }

    /// `connection`'s lease is gone: no more writes, then no more work here.
    fn lose(&self, connection: &str, why: &str) {
        if self.held.borrow_mut().remove(connection).is_none() {
            return;
        }
        self.pg.disown(connection);
        self.hands.disown.do_send(Disown {
            connection: connection.to_owned(),
        });
        self.board.update(|s| {
            s.lease_losses += 1;
            s.leases_held = s.leases_held.saturating_sub(1);
        });
        log::warn!("lost lease of conn={connection} ({why}); stopped here");
    }

    fn lose_all(&self, why: &str) {
        let held: Vec<String> = self.held.borrow().keys().cloned().collect();
        for connection in held {
            self.lose(&connection, why);
        }
    }

    /// Takes and hands back leases as [`balance::plan`] says.
    async fn balance(&self, members: &[Member], leases: &[Lease]) {
        let live: Vec<String> = members
            .iter()
            .filter(|m| m.live)
            .map(|m| m.instance.clone())
            .collect();
        let held: BTreeSet<String> = self.held.borrow().keys().cloned().collect();
        let connections = self.connections.borrow().clone();
        let plan = balance::plan(&View {
            me: self.membership.instance(),
            live: &live,
            connections: &connections,
            leases,
            held: &held,
        });
        if !plan.release.is_empty() {
            self.hand_over(&plan.release).await;
        }
        for connection in plan.acquire {
            if let Err(err) = self.take(&connection).await {
                return self.failed(&err);
            }
        }
    }
}
