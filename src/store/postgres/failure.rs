//! What a failed database call means for the store: whether the database could not be reached
//! (the store's health shows it until a call succeeds again), whether the transaction may
//! simply run again (a serialization failure or a deadlock), or neither (a statement's own
//! problem). Decided from the driver's error before it becomes text ([`db_error`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::Utc;
use tokio_postgres::error::SqlState;

use super::db::{db_error, DbFailure};
use crate::store::health::{StoreFault, StoreHealth};
use crate::store::StoreError;

/// What kind of failure a database call ended in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// The database could not be reached, or dropped the connection.
    Link,
    /// The transaction lost a race (SQLSTATE 40001, 40P01): running it again may succeed.
    Retry,
    /// Anything else: a conflict, a fence, a statement's error, a damaged record.
    Other,
}

/// A failed database call: the store's error, and what kind of failure it was.
#[derive(Debug)]
pub(super) struct Failure {
    /// What the caller is answered.
    pub error: StoreError,
    /// What the store makes of it: a fault in its health, another attempt, or nothing.
    pub kind: Kind,
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Self {
        Self {
            error,
            kind: Kind::Other,
        }
    }
}

/// A driver or pool error that can be classified before it becomes text.
pub(super) trait Classify: Into<DbFailure> {
    fn kind(&self) -> Kind;
}

impl Classify for tokio_postgres::Error {
    fn kind(&self) -> Kind {
        match self.code() {
            Some(code) => kind_of_state(code),
            None if self.is_closed() => Kind::Link,
            // Connecting, reading or writing the socket; not a value's encoding.
            None => match std::error::Error::source(self) {
                Some(source) if source.is::<std::io::Error>() => Kind::Link,
                _ if self.to_string().starts_with("error connecting") => Kind::Link,
                _ => Kind::Other,
            },
        }
    }
}

impl Classify for deadpool_postgres::PoolError {
    fn kind(&self) -> Kind {
        match self {
            deadpool_postgres::PoolError::Backend(err) => err.kind(),
            // Timeouts and a closed pool: no connection to be had.
            _ => Kind::Link,
        }
    }
}

/// The kind of a failure PostgreSQL reported with `code`.
fn kind_of_state(code: &SqlState) -> Kind {
    if *code == SqlState::T_R_SERIALIZATION_FAILURE || *code == SqlState::T_R_DEADLOCK_DETECTED {
        return Kind::Retry;
    }
    let text = code.code();
    // Class 08: connection exceptions; 57P01-03: the server shuts down or is starting;
    // 53300: too many connections.
    if text.starts_with("08") || text.starts_with("57P") || text == "53300" {
        return Kind::Link;
    }
    Kind::Other
}

/// Maps a driver or pool error met while doing `what`, keeping its kind.
pub(super) fn fail<E: Classify>(what: &'static str) -> impl Fn(E) -> Failure {
    move |err| {
        let kind = err.kind();
        Failure {
            error: db_error(what, err),
            kind,
        }
    }
}

/// Whether the database answers, as the last call found: a fault from a call that could not
/// reach it until the next call that did.
#[derive(Debug, Default)]
pub(super) struct Link {
    /// Whether `state` holds a fault: read without the lock by every successful call.
    faulted: AtomicBool,
    state: Mutex<StoreHealth>,
}

impl Link {
    fn lock(&self) -> MutexGuard<'_, StoreHealth> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A call reached the database: a fault, if any, is healed.
    pub fn answered(&self) {
        if !self.faulted.load(Ordering::Acquire) {
            return;
        }
        let mut health = self.lock();
        if health.fault.take().is_some() {
            health.faults_total += 1;
            log::warn!("store: the database answers again");
        }
        self.faulted.store(false, Ordering::Release);
    }

    /// A call could not reach the database: the store shows the fault until one does.
    pub fn lost(&self, error: &StoreError) {
        let mut health = self.lock();
        match &mut health.fault {
            Some(fault) => fault.error = error.to_string(),
            None => {
                log::warn!("store: the database cannot be reached: {error}");
                health.fault = Some(StoreFault {
                    error: error.to_string(),
                    since: Utc::now(),
                    reopen_attempts: 0,
                    last_reopen_error: None,
                });
            }
        }
        self.faulted.store(true, Ordering::Release);
    }

    /// The store's health now.
    pub fn health(&self) -> StoreHealth {
        self.lock().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_races_run_again_and_lost_connections_show_as_faults() {
        assert_eq!(
            kind_of_state(&SqlState::T_R_SERIALIZATION_FAILURE),
            Kind::Retry
        );
        assert_eq!(kind_of_state(&SqlState::T_R_DEADLOCK_DETECTED), Kind::Retry);
        assert_eq!(kind_of_state(&SqlState::ADMIN_SHUTDOWN), Kind::Link);
        assert_eq!(kind_of_state(&SqlState::CONNECTION_FAILURE), Kind::Link);
        assert_eq!(kind_of_state(&SqlState::UNIQUE_VIOLATION), Kind::Other);
    }

    #[test]
    fn a_fault_lasts_until_the_database_answers_again() {
        let link = Link::default();
        link.lost(&StoreError::Database("connection refused".into()));
        let fault = link.health().fault.expect("the fault shows");
        assert!(fault.error.contains("connection refused"));
        link.answered();
        assert_eq!(link.health().fault, None);
        assert_eq!(link.health().faults_total, 1);
    }
}
