//! How a connection follows its destination's health: it walks its stored backlog when the
//! destination accepts notifications again, and dispatches the next container of a key when
//! the one before it finished.

use actix::prelude::*;

use super::{ConnectionActor, Step};
use crate::actors::dispatch::promoted;
use crate::actors::messages::{DestinationChanged, Promote};

impl Handler<DestinationChanged> for ConnectionActor {
    type Result = ();

    fn handle(&mut self, _: DestinationChanged, ctx: &mut Context<Self>) {
        let Some(epoch) = self.deps.gate.open_epoch() else {
            // Deliveries let their notifications go: they are in the store, not dispatched.
            self.caught_up = None;
            return;
        };
        if self.caught_up == Some(epoch) {
            return;
        }
        self.walk_due = true;
        if !self.busy {
            // Waiting for the next poll: walk the backlog now instead.
            if let Some(next) = self.next.take() {
                ctx.cancel_future(next);
            }
            self.run(Step::Poll, ctx);
        }
    }
}

impl Handler<Promote> for ConnectionActor {
    type Result = ();

    fn handle(&mut self, msg: Promote, ctx: &mut Context<Self>) {
        let Some(enricher) = self.enricher.clone() else {
            return;
        };
        // Dropping the claim of a destination that stopped accepting dissolves its key's line.
        let accepting = self.deps.gate.accepts();
        if self.stopped || self.failing || !accepting || !msg.claim.is_current() {
            return;
        }
        let deps = self.deps.clone();
        ctx.spawn(
            async move {
                if let Err(err) = promoted(&deps, &enricher, msg.claim).await {
                    let id = &deps.config.id;
                    log::error!("conn={id} reading a pending container failed: {err}");
                }
            }
            .into_actor(self),
        );
    }
}
