//! Dead letters an operator sent back to pending: the connection dispatches them like
//! recovered containers, under its current generation's claims.

use actix::prelude::*;

use super::ConnectionActor;
use crate::actors::contain_panic;
use crate::actors::dispatch::redispatch;
use crate::actors::messages::Redispatch;

impl Handler<Redispatch> for ConnectionActor {
    type Result = ();

    fn handle(&mut self, msg: Redispatch, ctx: &mut Context<Self>) {
        let Some(enricher) = self
            .enricher
            .clone()
            .filter(|_| !self.stopped && !self.failing)
        else {
            return; // The next start dispatches every pending container.
        };
        let (deps, generation) = (self.deps.clone(), self.generation);
        let work = async move { redispatch(&deps, generation, &enricher, &msg.sequences).await };
        ctx.spawn(
            contain_panic(work)
                .into_actor(self)
                .map(|outcome, act, ctx| match outcome {
                    Ok(Ok(())) => {}
                    Ok(Err(err)) => log::warn!("conn={} redispatch failed: {err}", act.id()),
                    Err(panic) => act.fail_hard(&panic, ctx),
                }),
        );
    }
}
