//! Dead letters an operator sent back to pending: the connection walks its store again, so
//! they go out like any stored container: in sequence order, behind earlier containers of
//! their key, and only while the destination accepts notifications.

use actix::prelude::*;

use super::ConnectionActor;
use crate::actors::messages::Redispatch;

impl Handler<Redispatch> for ConnectionActor {
    type Result = ();

    fn handle(&mut self, _: Redispatch, ctx: &mut Context<Self>) {
        if self.stopped || self.failing {
            return; // The next start walks the store anyway.
        }
        if self.deps.gate.accepts() {
            self.walk_soon(ctx);
        } else {
            // Not caught up any more: the walk after the destination accepts again finds them.
            self.caught_up = None;
        }
    }
}
