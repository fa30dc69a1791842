//! What the keeper shows of the cluster: the board after every read, the mismatched
//! configurations in the log once each, and a failure to reach the database.

use super::Keeping;
use crate::cluster::leases::Lease;
use crate::cluster::members::Member;
use crate::cluster::mismatch;
use crate::escape::escaped;
use crate::store::StoreError;

impl Keeping {
    /// Shows a failure to reach the database; logged once until it answers again.
    pub(super) fn failed(&self, err: &StoreError) {
        let text = err.to_string();
        self.board.update(|s| s.last_error = Some(text.clone()));
        if !self.failing.replace(true) {
            log::warn!(
                "cluster: renewing leases failed: {}; connections stop here if it lasts {:?}",
                escaped(&text),
                self.lease
            );
        }
    }

    /// Shows what was read on the board, and logs members running another configuration
    /// (once per member and hash).
    pub(super) fn show(&self, members: &[Member], leases: &[Lease]) {
        if self.failing.replace(false) {
            log::info!("cluster: the database answers again");
        }
        let live = members.iter().filter(|m| m.live).count();
        if !self.joined.replace(true) {
            log::info!(
                "cluster: instance {} joined ({live} members)",
                self.membership.instance()
            );
        }
        let mine = self.config_hash.borrow().clone();
        let members = members.iter().map(|m| m.view(&mine));
        let leases = leases.iter().map(Lease::view);
        let held = self.held.borrow().len() as u64;
        self.board.update(|s| {
            s.members = members.collect();
            s.leases = leases.collect();
            s.leases_held = held;
            s.last_error = None;
        });
        mismatch::report(&self.board.snapshot(), &mut self.reported.borrow_mut());
    }
}
