//! What a connection's failure handling needs to know about any failure: a poll's error, or
//! a page stuck at one position.

use std::time::Duration;

use crate::ehr::poll::PollError;

/// What failure handling needs to know about any failure.
pub(super) trait FailureInfo: std::fmt::Display {
    fn retry_after(&self) -> Option<Duration>;
    fn kind(&self) -> &'static str;
    fn needs_operator(&self) -> bool;
}

impl FailureInfo for PollError {
    fn retry_after(&self) -> Option<Duration> {
        PollError::retry_after(self)
    }
    fn kind(&self) -> &'static str {
        PollError::kind(self)
    }
    fn needs_operator(&self) -> bool {
        PollError::needs_operator(self)
    }
}

/// More items at one position than the widest page allowed.
pub(super) struct StuckPage(pub(super) String);

impl std::fmt::Display for StuckPage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl FailureInfo for StuckPage {
    fn retry_after(&self) -> Option<Duration> {
        None
    }
    fn kind(&self) -> &'static str {
        "stuck_page"
    }
    fn needs_operator(&self) -> bool {
        true
    }
}
