//! What the store does after a write fault (a full disk, an I/O error): it stops answering
//! from the files it had open and re-opens them in the background until that works.
//!
//! Why re-open rather than retry: sled 0.34 remembers the first I/O error of a write and
//! fails every later write with it, for as long as the database stays open, so a disk that
//! has room again never heals an open store. Worse, a transaction whose flush failed is still
//! applied in sled's memory: reading on would show a cursor and containers that are not on
//! disk. So on the first write fault the store takes its files out of service (every call
//! fails at once with [`StoreError::Unavailable`]), and a thread of its own re-opens them,
//! which reads back exactly what is durable, once the last user of the old files let go
//! (sled holds a lock on its directory until then).

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::thread;
use std::time::{Duration, Instant};

use chrono::Utc;

use super::engine::Engine;
use super::marks::Rollback;
use super::{Shared, SledStore};
use crate::store::{
    StoreError, StoreFault, StoreHealth, EXIT_STORE_DAMAGED, EXIT_STORE_WENT_BACKWARDS,
};

/// The first re-open is tried this long after the fault; the delay doubles up to
/// [`REOPEN_DELAY_MAX`], so Courier heals within 5 seconds of the disk having room again.
const REOPEN_DELAY_MIN: Duration = Duration::from_millis(250);
const REOPEN_DELAY_MAX: Duration = Duration::from_secs(5);

/// The waits before successive re-open attempts: [`REOPEN_DELAY_MIN`], doubling up to
/// [`REOPEN_DELAY_MAX`], for ever.
fn reopen_delays() -> impl Iterator<Item = Duration> {
    std::iter::successors(Some(REOPEN_DELAY_MIN), |delay| {
        Some((*delay * 2).min(REOPEN_DELAY_MAX))
    })
}

/// The fault bookkeeping behind [`StoreHealth`].
#[derive(Default)]
pub(super) struct FaultState {
    pub(super) health: StoreHealth,
    /// Set while a re-opening thread runs, so a fault starts at most one.
    healing: bool,
}

impl Shared {
    /// Takes `engine` out of service for `err` (unless it was already replaced) and starts
    /// re-opening the store's files.
    pub(super) fn fail(self: &Arc<Self>, engine: &Arc<Engine>, err: &StoreError) {
        let taken = {
            let mut current = self.write_engine();
            match current.as_ref() {
                Some(open) if Arc::ptr_eq(open, engine) => current.take(),
                // Replaced already: the error concerns files that are closed.
                _ => return,
            }
        };
        let start_healing = {
            let mut faults = self.faults();
            faults.health.faults_total += 1;
            faults.health.fault = Some(StoreFault {
                error: err.to_string(),
                since: Utc::now(),
                reopen_attempts: 0,
                last_reopen_error: None,
            });
            !std::mem::replace(&mut faults.healing, true)
        };
        let Some(path) = self.path.clone() else {
            log::error!(
                "the temporary store failed: {err}; it cannot be re-opened (its files are \
                 gone), so nothing more is stored until Courier restarts"
            );
            return;
        };
        log::error!(
            "store {} failed: {err}; nothing is polled, completed or dead-lettered until it \
             is re-opened, tried every {}–{} s",
            path.display(),
            REOPEN_DELAY_MIN.as_secs_f64(),
            REOPEN_DELAY_MAX.as_secs()
        );
        if start_healing {
            let shared = Arc::downgrade(self);
            let spawned = thread::Builder::new()
                .name("store reopen".into())
                .spawn(move || heal(shared, path, taken));
            if let Err(err) = spawned {
                // Without it the store would stay out of service for good: a restart heals.
                log::error!("the store's re-opening thread did not start: {err}; exiting");
                std::process::exit(1);
            }
        }
    }
}

/// Re-opens the store at `path` until it works, dropping the failed `old` files first.
fn heal(shared: Weak<Shared>, path: PathBuf, old: Option<Arc<Engine>>) {
    close(old);
    let started = Instant::now();
    for delay in reopen_delays() {
        thread::sleep(delay);
        let Some(alive) = shared.upgrade() else {
            return;
        };
        match open(&path) {
            Ok(engine) => return alive.reopened(engine, started.elapsed()),
            Err(Reopen::Later(reason)) => alive.reopen_failed(reason),
            Err(Reopen::Never(err)) => {
                // What a start would refuse: exit as a start would, so that a supervisor
                // restarts Courier and the operator sees the same message and code.
                let code = match err {
                    StoreError::WentBackwards(_) => EXIT_STORE_WENT_BACKWARDS,
                    _ => EXIT_STORE_DAMAGED,
                };
                log::error!(
                    "store {} cannot be re-opened after the write fault: {err}; exiting with \
                     code {code}",
                    path.display()
                );
                std::process::exit(i32::from(code));
            }
        }
    }
}

impl SledStore {
    /// [`SledStore::open_with`], waiting out a full disk: sled writes at open (a snapshot), and a
    /// process supervisor restarting Courier on a full disk would otherwise spin. Tries as a
    /// running store re-opens, one ERROR line first; SIGTERM ends the wait.
    pub fn open_when_room(path: &Path, rollback: Rollback) -> Result<Self, StoreError> {
        let mut delays = reopen_delays();
        loop {
            match Self::open_with(path, rollback) {
                Err(err) if err.is_disk_full() => {
                    let delay = delays.next().unwrap_or(REOPEN_DELAY_MAX);
                    if delay == REOPEN_DELAY_MIN {
                        log::error!(
                            "store {}: {err}; waiting for the disk to have room before \
                             starting",
                            path.display()
                        );
                    }
                    thread::sleep(delay);
                }
                opened => return opened,
            }
        }
    }
}

/// How long the re-opening thread waits for calls still using the failed files to return, so
/// that it, not an async worker, closes them (closing joins the files' flushing thread).
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// Closes the failed files here once no call uses them any more (at most [`CLOSE_WAIT`];
/// then the last call to return closes them).
fn close(old: Option<Arc<Engine>>) {
    let Some(old) = old else {
        return;
    };
    let deadline = Instant::now() + CLOSE_WAIT;
    while Arc::strong_count(&old) > 1 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    drop(old);
}

/// Why a re-open failed: worth trying again (the disk, the lock of files still closing), or
/// not (the files are damaged, or behind their high-water marks).
enum Reopen {
    Later(String),
    Never(StoreError),
}

/// sled's database file inside a store's directory (sled 0.34 names it so).
const SLED_DB_FILE: &str = "db";

fn open(path: &std::path::Path) -> Result<Engine, Reopen> {
    // sled creates what is missing. A store whose files vanished under a running Courier (its
    // directory removed or moved, its volume unmounted) would be replaced by an empty one, its
    // marks gone with it: every connection would poll again from its initial cursor, numbering
    // from 1, without a word. Wait for the files to come back instead, out of service.
    if !path.join(SLED_DB_FILE).is_file() {
        return Err(Reopen::Later(format!(
            "{} is gone (its directory removed or moved, or its volume unmounted); Courier \
             waits for it to come back rather than start an empty store in its place",
            path.join(SLED_DB_FILE).display()
        )));
    }
    Engine::open(path, Rollback::Refuse).map_err(|err| match err.is_write_fault() {
        true => Reopen::Later(err.to_string()),
        false => Reopen::Never(err),
    })
}

impl Shared {
    fn reopened(&self, engine: Engine, took: Duration) {
        // Healing ends before the files go back in service, so a fault of the new files
        // always starts a re-open of its own.
        let attempts = {
            let mut faults = self.faults();
            faults.healing = false;
            faults
                .health
                .fault
                .take()
                .map_or(0, |fault| fault.reopen_attempts + 1)
        };
        self.reopens.fetch_add(1, Ordering::AcqRel);
        *self.write_engine() = Some(Arc::new(engine));
        log::warn!(
            "store re-opened after {:.1} s ({attempts} attempts); polling and deliveries go on \
             from what is on disk",
            took.as_secs_f64()
        );
    }

    fn reopen_failed(&self, reason: String) {
        let mut faults = self.faults();
        if let Some(fault) = faults.health.fault.as_mut() {
            fault.reopen_attempts += 1;
            log::debug!(
                "store re-open attempt {} failed: {reason}",
                fault.reopen_attempts
            );
            fault.last_reopen_error = Some(reason);
        }
    }
}
