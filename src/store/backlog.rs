//! Per-connection backlog counters: how many containers are pending and which is the oldest,
//! kept in memory by every write that adds or removes a pending container, so `/status` and
//! `/metrics` read counters instead of scanning the store at every scrape.
//!
//! The count is exact as long as each write reports what it really added or removed (a
//! removal of a key that was already gone counts nothing). The oldest is remembered by
//! sequence; when that container leaves, the next read looks the new oldest up once (one
//! record read, not a scan) and remembers it again.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};

use super::StoreError;

/// The oldest pending container of a connection: its sequence and detection time.
pub type Oldest = (u64, DateTime<Utc>);

/// One connection's counters.
#[derive(Debug, Default)]
struct Backlog {
    count: u64,
    /// The oldest pending container, when known; `None` with a count above 0 means it left
    /// and the next read looks the new one up.
    oldest: Option<Oldest>,
}

/// Every connection's counters, shared by one opening of a backend's files.
#[derive(Debug, Default)]
pub struct Backlogs {
    by_connection: Mutex<HashMap<String, Backlog>>,
}

impl Backlogs {
    /// Counters starting from what the store held at open: pending containers per connection
    /// (their oldest looked up at the first read).
    pub fn new(counts: HashMap<String, u64>) -> Self {
        let by_connection = counts
            .into_iter()
            .map(|(connection, count)| {
                let backlog = Backlog {
                    count,
                    oldest: None,
                };
                (connection, backlog)
            })
            .collect();
        Self {
            by_connection: Mutex::new(by_connection),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Backlog>> {
        self.by_connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// `count` containers were added to `connection`, from `sequence` on, detected at `at`.
    pub fn added(&self, connection: &str, sequence: u64, count: u64, at: DateTime<Utc>) {
        if count == 0 {
            return;
        }
        let mut all = self.lock();
        let backlog = match all.get_mut(connection) {
            Some(backlog) => backlog,
            None => all.entry(connection.to_owned()).or_default(),
        };
        let older = match backlog.oldest {
            Some((oldest, _)) => sequence < oldest,
            None => backlog.count == 0,
        };
        if older {
            backlog.oldest = Some((sequence, at));
        }
        backlog.count += count;
    }

    /// One container was added to `connection` whose detection time could not be read: it is
    /// counted, and the oldest is looked up at the next read.
    pub fn added_unread(&self, connection: &str) {
        let mut all = self.lock();
        let backlog = all.entry(connection.to_owned()).or_default();
        backlog.count += 1;
        backlog.oldest = None;
    }

    /// The container `sequence` of `connection` left the pending ones.
    pub fn removed(&self, connection: &str, sequence: u64) {
        let mut all = self.lock();
        let Some(backlog) = all.get_mut(connection) else {
            return;
        };
        backlog.count = backlog.count.saturating_sub(1);
        if backlog.count == 0 || backlog.oldest.is_some_and(|(oldest, _)| oldest == sequence) {
            backlog.oldest = None;
        }
    }

    /// The count and the oldest's detection time of `connection`; `first` reads the oldest
    /// pending container from the store when it is not known (held under the counters' lock,
    /// so no write's update is lost in between).
    pub fn read(
        &self,
        connection: &str,
        first: impl FnOnce() -> Result<Option<Oldest>, StoreError>,
    ) -> Result<(u64, Option<DateTime<Utc>>), StoreError> {
        let mut all = self.lock();
        let Some(backlog) = all.get_mut(connection).filter(|b| b.count > 0) else {
            return Ok((0, None));
        };
        if backlog.oldest.is_none() {
            backlog.oldest = first()?;
        }
        Ok((backlog.count, backlog.oldest.map(|(_, at)| at)))
    }

    /// `connection`'s counters as read from the store, replacing what was kept: for a backend
    /// that starts keeping a connection's counters when it starts writing it (a cluster).
    pub fn load(&self, connection: &str, count: u64, oldest: Option<Oldest>) {
        let backlog = Backlog { count, oldest };
        self.lock().insert(connection.to_owned(), backlog);
    }

    /// Forgets `connection`'s counters: this instance no longer writes it.
    pub fn forget(&self, connection: &str) {
        self.lock().remove(connection);
    }

    /// Pending containers, every connection together.
    pub fn total(&self) -> u64 {
        self.lock().values().map(|backlog| backlog.count).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    #[test]
    fn the_oldest_is_looked_up_only_after_it_left() {
        let backlogs = Backlogs::default();
        backlogs.added("a", 1, 2, at(10));
        backlogs.added("a", 3, 1, at(20));
        let unread = || -> Result<Option<Oldest>, StoreError> { panic!("no read needed") };
        assert_eq!(backlogs.read("a", unread).unwrap(), (3, Some(at(10))));
        backlogs.removed("a", 2);
        assert_eq!(backlogs.read("a", unread).unwrap(), (2, Some(at(10))));
        backlogs.removed("a", 1);
        let looked_up = backlogs.read("a", || Ok(Some((3, at(20))))).unwrap();
        assert_eq!(looked_up, (1, Some(at(20))));
        backlogs.removed("a", 3);
        assert_eq!(backlogs.read("a", unread).unwrap(), (0, None));
        assert_eq!(backlogs.total(), 0);
    }

    #[test]
    fn a_container_back_from_the_dead_letters_can_be_the_oldest_again() {
        let backlogs = Backlogs::default();
        backlogs.added("a", 7, 1, at(50));
        backlogs.added("a", 1, 1, at(5));
        let unread = || -> Result<Option<Oldest>, StoreError> { panic!("no read needed") };
        assert_eq!(backlogs.read("a", unread).unwrap(), (2, Some(at(5))));
    }

    #[test]
    fn counts_found_at_open_look_their_oldest_up_once() {
        let backlogs = Backlogs::new(HashMap::from([("a".to_owned(), 2)]));
        backlogs.added("b", 4, 3, at(9));
        assert_eq!(backlogs.total(), 5);
        assert_eq!(
            backlogs.read("a", || Ok(Some((3, at(30))))).unwrap(),
            (2, Some(at(30)))
        );
        let unread = || -> Result<Option<Oldest>, StoreError> { panic!("no read needed") };
        assert_eq!(backlogs.read("a", unread).unwrap(), (2, Some(at(30))));
    }
}
