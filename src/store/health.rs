//! Whether the store answers, as status, metrics and readiness show it.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// Whether the store answers, for status, metrics and readiness.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StoreHealth {
    /// `None` while the store answers; otherwise the write fault that stopped it.
    pub fault: Option<StoreFault>,
    /// Write faults since the process started (each one healed, but the current).
    pub faults_total: u64,
}

/// A write fault the store has not healed from yet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoreFault {
    /// The error that stopped the store.
    pub error: String,
    /// When it happened.
    pub since: DateTime<Utc>,
    /// Re-opens tried so far.
    pub reopen_attempts: u64,
    /// Why the last re-open failed, if one was tried.
    pub last_reopen_error: Option<String>,
}

impl StoreHealth {
    /// Whether the store answers.
    pub fn is_ok(&self) -> bool {
        self.fault.is_none()
    }
}
