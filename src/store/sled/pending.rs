//! Reading the pending containers from sled (a page of one connection's key range, one
//! container, the backlog counters), and the store's health and flushes.

use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};

use super::engine::Engine;
use super::{decode, keys, ready, SledStore};
use crate::model::Container;
use crate::store::backlog::Oldest;
use crate::store::health::StoreHealth;
use crate::store::traits::{HealthStore, PendingPage, PendingStore, StoreFuture};
use crate::store::StoreError;

impl SledStore {
    fn read_page(
        &self,
        connection: &str,
        from: u64,
        limit: usize,
    ) -> Result<PendingPage, StoreError> {
        let start = keys::container(connection, from);
        let end = keys::container_prefix_end(connection);
        let engine = self.engine()?;
        let mut page = PendingPage::default();
        for entry in engine.containers.range(start..end) {
            let (key, value) = entry?;
            if page.items.len() == limit {
                page.next = keys::sequence(&key);
                break;
            }
            page.items.push(decode(&keys::describe(&key), &value));
        }
        Ok(page)
    }

    fn read_container(
        &self,
        connection: &str,
        sequence: u64,
    ) -> Result<Option<Container>, StoreError> {
        let key = keys::container(connection, sequence);
        match self.engine()?.containers.get(&key)? {
            Some(bytes) => decode(&keys::describe(&key), &bytes).map(Some),
            None => Ok(None),
        }
    }
}

/// The oldest pending container of `connection` in `engine`: its sequence and detection
/// time. Reads one record.
fn oldest(engine: &Engine, connection: &str) -> Result<Option<Oldest>, StoreError> {
    let start = keys::container(connection, 0);
    let end = keys::container_prefix_end(connection);
    let Some(first) = engine.containers.range(start..end).next() else {
        return Ok(None);
    };
    let (key, value) = first?;
    let container: Container = decode(&keys::describe(&key), &value)?;
    Ok(Some((container.sequence, container.detected_at)))
}

impl PendingStore for SledStore {
    fn pending_page<'a>(
        &'a self,
        connection: &'a str,
        from: u64,
        limit: usize,
    ) -> StoreFuture<'a, PendingPage> {
        ready(self.read_page(connection, from, limit))
    }

    fn is_pending<'a>(&'a self, connection: &'a str, sequence: u64) -> StoreFuture<'a, bool> {
        let key = keys::container(connection, sequence);
        let found = self
            .engine()
            .and_then(|engine| Ok(engine.containers.contains_key(key)?));
        ready(found)
    }

    fn container<'a>(
        &'a self,
        connection: &'a str,
        sequence: u64,
    ) -> StoreFuture<'a, Option<Container>> {
        ready(self.read_container(connection, sequence))
    }

    fn backlog(&self, connection: &str) -> Result<(u64, Option<DateTime<Utc>>), StoreError> {
        let engine = self.engine()?;
        engine
            .backlogs
            .read(connection, || oldest(&engine, connection))
    }

    fn pending_count(&self) -> usize {
        self.engine()
            .map_or(0, |engine| engine.backlogs.total() as usize)
    }
}

impl HealthStore for SledStore {
    fn health(&self) -> StoreHealth {
        self.shared.faults().health.clone()
    }

    /// What was read before a re-open may no longer be what is stored: a connection caught
    /// up with the store walks it again, and a completion checks that it removes the
    /// container it delivered.
    fn reopens(&self) -> u64 {
        self.shared.reopens.load(Ordering::Acquire)
    }

    fn epoch(&self) -> Option<u64> {
        let open = self.shared.read_engine().is_some();
        open.then(|| self.reopens())
    }

    fn check(&self) -> StoreFuture<'_, ()> {
        let read = self
            .engine()
            .and_then(|engine| Ok(engine.connections.first().map(drop)?));
        ready(read)
    }

    fn flush(&self) -> StoreFuture<'_, ()> {
        Box::pin(self.flush_durably())
    }
}
