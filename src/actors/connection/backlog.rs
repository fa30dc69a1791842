//! How a connection follows its destination's health: it offers a stored container to probe
//! a failing destination, walks its stored backlog when the destination accepts notifications
//! again, and dispatches the next container of a key when the one before it finished.

use actix::prelude::*;

use super::{ConnectionActor, Step};
use crate::actors::dispatch::{mark, offer_probe, promoted};
use crate::actors::messages::{DestinationChanged, Released};
use crate::escape::escaped;
use crate::store::StoreError;

impl Handler<DestinationChanged> for ConnectionActor {
    type Result = ();

    fn handle(&mut self, _: DestinationChanged, ctx: &mut Context<Self>) {
        if !self.deps.gate.accepts() {
            // Deliveries let their notifications go: they are in the store, not dispatched.
            self.caught_up = None;
            return self.offer_probe(ctx);
        }
        if self.caught_up != mark(&self.deps) {
            self.walk_soon(ctx);
        }
    }
}

impl Handler<Released> for ConnectionActor {
    type Result = ();

    fn handle(&mut self, msg: Released, ctx: &mut Context<Self>) {
        let claim = match msg {
            Released::Next(claim) => claim,
            Released::LetGo => return self.walk_soon(ctx),
        };
        let Some(enricher) = self.enricher.clone() else {
            return;
        };
        // Dropping the claim lets its container go; the walk that follows dispatches it.
        let accepting = self.deps.gate.accepts();
        if self.stopped || self.failing || !accepting || !claim.is_current() {
            return;
        }
        let deps = self.deps.clone();
        ctx.spawn(
            async move {
                if let Err(err) = promoted(&deps, &enricher, claim).await {
                    let id = &deps.config.id;
                    log::error!(
                        "conn={id} reading a pending container failed: {}",
                        escaped(&err)
                    );
                }
            }
            .into_actor(self),
        );
    }
}

impl ConnectionActor {
    /// Walks the store before the next poll, at once when no step is running.
    pub(super) fn walk_soon(&mut self, ctx: &mut Context<Self>) {
        self.caught_up = None;
        self.walk_due = true;
        if !self.busy {
            // Waiting for the next poll: walk the backlog now instead.
            self.cancel_timer(ctx);
            self.run(Step::Poll, ctx);
        }
    }

    /// Takes the probe slot of a failing destination, if free, and sends one stored container
    /// with it.
    pub(super) fn offer_probe(&mut self, ctx: &mut Context<Self>) {
        let Some(enricher) = self
            .enricher
            .clone()
            .filter(|_| !self.stopped && !self.failing)
        else {
            return;
        };
        let Some(probe) = self.deps.gate.take_probe() else {
            return;
        };
        let (deps, turn) = (self.deps.clone(), self.probe_turn);
        self.probe_turn = self.probe_turn.wrapping_add(1);
        let retry_in = self.deps.config.backoff_min;
        ctx.spawn(
            async move {
                let offered = offer_probe(&deps, &enricher, probe, turn).await;
                let id = &deps.config.id;
                match &offered {
                    // The store's fault is logged where it happened.
                    Err(err @ StoreError::Unavailable(_)) => {
                        log::debug!("conn={id} no probe while the store is out: {err}");
                    }
                    Err(err) => log::warn!(
                        "conn={id} reading pending containers for a probe failed: {}; \
                         trying again in {retry_in:?}",
                        escaped(err)
                    ),
                    Ok(_) => {}
                }
                offered.is_err()
            }
            .into_actor(self)
            .map(move |failed, _act, ctx| {
                // The probe slot is free again (the probe was dropped), but nothing else
                // offers it while polls fail too: without this, a store fault left the
                // destination unprobed, and so failing, for good.
                if failed {
                    ctx.run_later(retry_in, |act, ctx| act.offer_probe(ctx));
                }
            }),
        );
    }
}
