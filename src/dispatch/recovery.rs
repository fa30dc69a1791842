//! Recovery: whether a connection is caught up with its store (every stored container
//! dispatched, or waiting behind its key) at a [`Mark`]. A page is dispatched from memory
//! only while the mark holds; otherwise the store is walked first: after a (re)start, a
//! store re-open, the destination accepting again, a container let go, or dead letters sent
//! back to pending.

use super::{Action, Dispatch, Seen, Step};

/// Where a connection stands with its store: caught up during one healthy period of the
/// destination (one epoch of its gate), with no container let go and no store re-open since.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    /// The gate's epoch.
    epoch: u64,
    /// The claims' count of containers let go.
    let_go: u64,
    /// The store's count of re-opens after a write fault: the files re-opened can hold what
    /// memory had already let go (a removal that never reached the disk) or a page whose
    /// flush failed after it was written, neither of them dispatched.
    reopens: u64,
}

/// A step under way, and what it compares the mark with.
#[derive(Debug, Clone, Copy)]
pub(super) struct Pass {
    step: Step,
    /// The mark it dispatches at: a walk's at its start, a poll's where the connection was
    /// caught up when it began.
    reference: Option<Mark>,
    /// The mark moved while containers were handed over.
    cut: bool,
}

impl Dispatch {
    /// The mark now, if the destination accepts notifications.
    fn mark(&self, seen: Seen) -> Option<Mark> {
        Some(Mark {
            epoch: seen.open_epoch?,
            let_go: self.claims.let_go_count(),
            reopens: seen.reopens,
        })
    }

    /// A poll becomes a walk of the store while the connection is not caught up at the
    /// current mark (or a walk is due) and the destination accepts notifications.
    pub(super) fn step_due(&mut self, step: Step, seen: Seen) -> Step {
        let behind = self.caught_up.is_none() || self.caught_up != self.mark(seen);
        let step = match step {
            Step::Poll if (self.walk_due || behind) && seen.open_epoch.is_some() => Step::Walk,
            step => step,
        };
        if step == Step::Walk {
            self.walk_due = false;
        }
        let reference = self.caught_up;
        self.pass = Some(Pass {
            step,
            reference,
            cut: false,
        });
        step
    }

    /// A walk dispatches at the mark it begins at; none while the destination does not
    /// accept notifications.
    pub(super) fn walk_begins(&mut self, seen: Seen) -> Vec<Action> {
        let reference = self.mark(seen);
        let cut = reference.is_none();
        self.pass = Some(Pass {
            step: Step::Walk,
            reference,
            cut,
        });
        if cut {
            return vec![Action::Halt];
        }
        vec![]
    }

    /// Whether the step under way may still hand containers over: the mark it dispatches at
    /// still holds at `seen`. Once it does not, the step is cut.
    pub(super) fn still_caught_up(&mut self, seen: Seen) -> bool {
        let now = self.mark(seen);
        let Some(pass) = self.pass.as_mut() else {
            return false;
        };
        if pass.cut || pass.reference.is_none() || pass.reference != now {
            pass.cut = true;
            return false;
        }
        true
    }

    /// A walk that went to the end at an unchanged mark caught up; a poll whose page went
    /// out whole is still caught up where it was.
    pub(super) fn step_ended(&mut self, seen: Seen, whole: bool) {
        let Some(pass) = self.pass.take() else {
            return;
        };
        let whole = whole && !pass.cut;
        self.caught_up = match pass.step {
            Step::Walk => self
                .mark(seen)
                .filter(|now| whole && pass.reference == Some(*now)),
            Step::Poll => pass.reference.filter(|_| whole),
        };
    }

    /// The store is walked before the next poll.
    pub(super) fn walk_soon(&mut self) -> Vec<Action> {
        self.caught_up = None;
        self.walk_due = true;
        vec![Action::Walk]
    }

    /// A destination that stopped accepting is probed (its deliveries let their
    /// notifications go, so the connection is no longer caught up); one that accepts again
    /// has its backlog walked, unless nothing moved.
    pub(super) fn destination_changed(&mut self, seen: Seen) -> Vec<Action> {
        if seen.open_epoch.is_none() {
            self.caught_up = None;
            return vec![Action::OfferProbe];
        }
        if self.caught_up != self.mark(seen) {
            return self.walk_soon();
        }
        vec![]
    }

    /// Containers went back to pending: walked to now, or after the destination accepts
    /// notifications again (the connection is no longer caught up).
    pub(super) fn redispatch(&mut self, seen: Seen) -> Vec<Action> {
        if seen.open_epoch.is_some() {
            return self.walk_soon();
        }
        self.caught_up = None;
        vec![]
    }
}

#[cfg(test)]
mod tests;
