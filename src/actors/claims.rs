//! Which containers of a connection are being worked on in memory, and in which order
//! containers that share a key may go: dispatching from the store (at start, after a restart,
//! when a destination is healthy again) never hands out one that is in flight, and with
//! `ordering = "per_key"` a container waits (as a bare sequence number) until the one before
//! it of its key has finished.
//!
//! When a key's container *finishes* (delivered or dead-lettered: [`Claim::finish`]), the next
//! of its line is claimed on the spot and sent to the connection to dispatch
//! ([`Released::Next`]), unless the destination does not accept notifications or the
//! connection is going down. A claim dropped without finishing *lets go* of its container: it
//! stays pending, so its line is dissolved (a later container of the key must not overtake
//! it) and the connection's next walk of the store dispatches them again, in sequence order;
//! when the destination accepts notifications, the connection is told to walk
//! ([`Released::LetGo`]).
//!
//! A connection restart voids every claim still at the enriching stage (their work is
//! cancelled) and every waiting container; claims that reached delivery stay taken until
//! delivery ends, and so do their keys.
//!
//! The claims also note when the connection's last notification was delivered, which is
//! what decides whether a heartbeat is due: a delivery ends with its claim.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use std::sync::{Arc, Mutex, MutexGuard};

use actix::Recipient;

use super::messages::Released;
use crate::config::DeliveryOrder;
use crate::delivery::gate::DestinationGate;
use crate::delivery::order::{key_hash, value_hash, KeyOrder};
use crate::model::Container;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Enriching,
    Delivering,
    /// Behind the head of its key; not in memory beyond this entry.
    Waiting,
}

#[derive(Debug)]
struct Entry {
    token: u64,
    stage: Stage,
    /// The key's hash, with per-key order.
    key: Option<u64>,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<u64, Entry>,
    order: KeyOrder,
}

/// One connection's claims; shared by its actors across restarts.
#[derive(Debug)]
pub struct Claims {
    inner: Mutex<Inner>,
    next_token: AtomicU64,
    order: DeliveryOrder,
    /// The destination's health: promote only while it accepts notifications.
    gate: Arc<DestinationGate>,
    /// The connection runs and takes promotions.
    running: AtomicBool,
    /// The connection, told of promoted containers and let-go ones.
    connection: Mutex<Option<Recipient<Released>>>,
    /// Containers let go so far: a connection that caught up with the store is no longer
    /// caught up once this moved.
    let_go: AtomicU64,
    /// Unix milliseconds of the last 2xx for one of the connection's notifications; 0 for
    /// none since the process started.
    last_delivered_ms: AtomicI64,
}

/// A held claim on one container; released when dropped, however the work ends.
#[derive(Debug)]
pub struct Claim {
    claims: Arc<Claims>,
    sequence: u64,
    token: u64,
    /// The container left the store (delivered or dead-lettered), set by [`Claim::finish`].
    finished: bool,
}

/// What dispatching a container found.
#[derive(Debug)]
pub enum Admission {
    /// Claimed: send it on.
    Go(Claim),
    /// It waits behind an earlier container of its key, which will promote it.
    Waits,
    /// Already in flight or waiting.
    Taken,
}

impl Claims {
    /// Claims for a connection whose destination orders by `order` and has health `gate`.
    pub fn new(order: DeliveryOrder, gate: Arc<DestinationGate>) -> Self {
        Self {
            inner: Mutex::default(),
            next_token: AtomicU64::new(0),
            order,
            gate,
            running: AtomicBool::new(false),
            connection: Mutex::new(None),
            let_go: AtomicU64::new(0),
            last_delivered_ms: AtomicI64::new(0),
        }
    }

    /// Starts a generation of the connection: claims still enriching and waiting containers
    /// are forgotten (the walk of the store that follows dispatches them again), and releases
    /// are told to `connection` from now on.
    pub fn begin_generation(&self, connection: Recipient<Released>) {
        let mut inner = self.lock();
        inner.entries.retain(|_, e| e.stage == Stage::Delivering);
        let Inner { entries, order } = &mut *inner;
        order.forget_waiting(|head| entries.contains_key(&head));
        *self.connection.lock().unwrap_or_else(|p| p.into_inner()) = Some(connection);
        self.running.store(true, Ordering::Release);
    }

    /// Whether these claims order by `order` and follow `gate`: then a reload's new actor of
    /// the connection may take them over.
    pub fn serves(&self, order: &DeliveryOrder, gate: &Arc<DestinationGate>) -> bool {
        self.order == *order && Arc::ptr_eq(&self.gate, gate)
    }

    /// The connection stops taking promotions (shutdown, or a restart under way).
    pub fn end_generation(&self) {
        self.running.store(false, Ordering::Release);
    }

    /// Dispatches `container`: claims it unless it is in flight, or has it wait behind the
    /// container of its key being worked on.
    pub fn admit(self: &Arc<Self>, container: &Container) -> Admission {
        let key = self.key_of(container);
        let mut inner = self.lock();
        if inner.entries.contains_key(&container.sequence) {
            return Admission::Taken;
        }
        let goes = key.is_none_or(|key| inner.order.admit(key, container.sequence));
        let stage = if goes {
            Stage::Enriching
        } else {
            Stage::Waiting
        };
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        let entry = Entry { token, stage, key };
        inner.entries.insert(container.sequence, entry);
        drop(inner);
        if !goes {
            return Admission::Waits;
        }
        Admission::Go(Claim {
            claims: Arc::clone(self),
            sequence: container.sequence,
            token,
            finished: false,
        })
    }

    /// How many containers were let go so far (see the module doc).
    pub fn let_go_count(&self) -> u64 {
        self.let_go.load(Ordering::Acquire)
    }

    /// When a notification of this connection was last delivered (2xx), if one was since
    /// the process started.
    pub fn last_delivered(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        match self.last_delivered_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => chrono::DateTime::from_timestamp_millis(ms),
        }
    }

    /// Containers claimed or waiting.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether nothing is claimed or waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether container `sequence` is neither claimed nor waiting.
    pub fn is_free(&self, sequence: u64) -> bool {
        !self.lock().entries.contains_key(&sequence)
    }

    /// The hash of the key `container` is ordered by; `None` without per-key order.
    pub fn key_of(&self, container: &Container) -> Option<u64> {
        match &self.order {
            DeliveryOrder::None => None,
            DeliveryOrder::PerKey { key_pointer } => Some(
                key_pointer
                    .as_deref()
                    .and_then(|pointer| container.change.pointer(pointer))
                    .filter(|value| !value.is_null())
                    .map_or_else(|| key_hash(&container.key), value_hash),
            ),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Releases `sequence` (holding `token`), finished or let go; returns what to tell the
    /// connection.
    fn release(self: &Arc<Self>, sequence: u64, token: u64, finished: bool) -> Option<Released> {
        let mut inner = self.lock();
        if inner
            .entries
            .get(&sequence)
            .is_none_or(|e| e.token != token)
        {
            return None;
        }
        let key = inner.entries.remove(&sequence).and_then(|e| e.key);
        let open = self.gate.accepts() && self.running.load(Ordering::Acquire);
        if !finished {
            self.let_go.fetch_add(1, Ordering::AcqRel);
            if let Some(key) = key {
                for waiting in inner.order.dissolve(key, sequence) {
                    inner.entries.remove(&waiting);
                }
            }
            return open.then_some(Released::LetGo);
        }
        let key = key?;
        if !open {
            for waiting in inner.order.dissolve(key, sequence) {
                inner.entries.remove(&waiting);
            }
            return None;
        }
        let next = inner.order.finish(key, sequence)?;
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        let entry = inner.entries.get_mut(&next)?;
        (entry.token, entry.stage) = (token, Stage::Enriching);
        Some(Released::Next(Claim {
            claims: Arc::clone(self),
            sequence: next,
            token,
            finished: false,
        }))
    }
}

impl Claim {
    /// The container has been handed to delivery: a connection restart no longer frees it.
    /// `false` when the claim was voided by a restart: the notification must not go out (the
    /// new generation dispatches the container again).
    pub fn delivering(&self) -> bool {
        match self.claims.lock().entries.get_mut(&self.sequence) {
            Some(entry) if entry.token == self.token => {
                entry.stage = Stage::Delivering;
                true
            }
            _ => false,
        }
    }

    /// Whether the claim still holds (a restart did not void it).
    pub fn is_current(&self) -> bool {
        let inner = self.claims.lock();
        inner
            .entries
            .get(&self.sequence)
            .is_some_and(|e| e.token == self.token)
    }

    /// The claimed container's notification was delivered (2xx): notes the time.
    pub fn delivered(&self) {
        let now = self.claims.gate.clock().now().timestamp_millis();
        self.claims
            .last_delivered_ms
            .fetch_max(now, Ordering::Relaxed);
    }

    /// The claimed container's sequence number.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// Releases the claim of a container that left the store (delivered, dead-lettered, or
    /// found gone), so the next of its key may go. Dropping a claim without this lets go.
    pub fn finish(mut self) {
        self.finished = true;
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let Some(released) = self
            .claims
            .release(self.sequence, self.token, self.finished)
        else {
            return;
        };
        let connection = self
            .claims
            .connection
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        match connection {
            // Queued even when the mailbox is full: releases are few (one per finished key,
            // or a container let go) and must not be lost.
            Some(connection) if connection.connected() => connection.do_send(released),
            _ => {
                // The connection is gone: stop promoting, so dropping a promoted claim
                // dissolves its line instead of promoting the one after it; the next walk
                // dispatches it.
                self.claims.end_generation();
                drop(released);
            }
        }
    }
}

#[cfg(test)]
mod tests;
