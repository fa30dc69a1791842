//! How a connection follows its destination's health and its claims, as the shell of its
//! dispatch machine: it feeds the destination's changes, dead letters sent back and released
//! claims to the machine, and carries out what it answers: offer a stored container to probe
//! a failing destination, walk the stored backlog, dispatch the next container of a key.

use actix::prelude::*;

use super::ConnectionActor;
use crate::actors::dispatch::{choose_probe, promoted, send};
use crate::actors::messages::{DestinationChanged, Redispatch, Released};
use crate::dispatch::{Action, Event, Seen};
use crate::escape::escaped;
use crate::store::StoreError;

impl Handler<DestinationChanged> for ConnectionActor {
    type Result = ();

    fn handle(&mut self, _: DestinationChanged, ctx: &mut Context<Self>) {
        // Stopped accepting: deliveries let their notifications go (they are in the store,
        // not dispatched) and the destination is probed. Accepting again: walk the backlog.
        self.feed(Event::DestinationChanged, ctx);
    }
}

impl Handler<Redispatch> for ConnectionActor {
    type Result = ();

    /// Dead letters an operator sent back to pending: the connection walks its store again,
    /// so they go out like any stored container: in sequence order, behind earlier containers
    /// of their key, and only while the destination accepts notifications (otherwise the
    /// walk after it accepts again finds them).
    fn handle(&mut self, _: Redispatch, ctx: &mut Context<Self>) {
        if self.stopped || self.failing {
            return; // The next start walks the store anyway.
        }
        self.feed(Event::Redispatch, ctx);
    }
}

impl Handler<Released> for ConnectionActor {
    type Result = ();

    fn handle(&mut self, msg: Released, ctx: &mut Context<Self>) {
        let claim = match msg {
            Released::Next(claim) => claim,
            Released::LetGo => return self.walk_now(ctx),
        };
        let accepting = self.deps.claims.gate().accepts();
        let going = !self.stopped && !self.failing && accepting && claim.is_current();
        let Some(enricher) = self.enricher.clone().filter(|_| going) else {
            // Let go: the walk that follows dispatches it.
            return claim.let_go();
        };
        let deps = self.deps.clone();
        ctx.spawn(
            async move {
                if let Err(err) = promoted(deps.dispatcher(), &enricher, claim).await {
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
    /// Feeds the machine the event made of what it needs from outside now, and carries out
    /// its answer.
    fn feed(&mut self, event: fn(Seen) -> Event<'static>, ctx: &mut Context<Self>) {
        let seen = self.deps.dispatcher().seen();
        let actions = self.deps.claims.on(event(seen));
        self.carry_out(actions, ctx);
    }

    /// Carries out what the dispatch machine answered.
    pub(super) fn carry_out(&mut self, actions: Vec<Action>, ctx: &mut Context<Self>) {
        for action in actions {
            match action {
                Action::Run(step) => self.run(step, ctx),
                Action::Walk => self.walk_now(ctx),
                Action::OfferProbe => self.offer_probe(ctx),
                // Answers to the steps' own events, carried out where they were fed.
                Action::Enrich { .. }
                | Action::ReleaseProbe(_)
                | Action::Queued
                | Action::Halt
                | Action::Deliver(_)
                | Action::Promote(_) => {}
            }
        }
    }

    /// A walk of the store is due (the machine noted it): at once when no step is running,
    /// otherwise when the step ends.
    pub(super) fn walk_now(&mut self, ctx: &mut Context<Self>) {
        if !self.busy {
            // Waiting for the next poll: walk the backlog now instead.
            self.cancel_timer(ctx);
            self.run(crate::dispatch::Step::Poll, ctx);
        }
    }

    /// Takes the probe slot of a failing destination, if free, and sends one stored container
    /// with it. Chosen here, not in a task: nothing can cancel the probe before it travels
    /// with a claim (which gives it back if a restart voids it).
    pub(super) fn offer_probe(&mut self, ctx: &mut Context<Self>) {
        let Some(enricher) = self
            .enricher
            .clone()
            .filter(|_| !self.stopped && !self.failing)
        else {
            return;
        };
        let Some(probe) = self.deps.claims.gate().take_probe() else {
            return;
        };
        let turn = self.probe_turn;
        self.probe_turn = self.probe_turn.wrapping_add(1);
        let deps = self.deps.clone();
        let chosen = async move {
            let chosen = choose_probe(deps.dispatcher(), &probe, turn).await;
            (chosen, probe)
        };
        let carried_out =
            chosen
                .into_actor(self)
                .map(move |(chosen, probe), act, ctx| match chosen {
                    Ok(Some((container, claim))) => {
                        let probe = Some(probe);
                        let sent = async move {
                            send(&enricher, container, claim, probe).await;
                        };
                        ctx.spawn(sent.into_actor(act));
                    }
                    Ok(None) => probe.release(),
                    Err(err) => {
                        probe.release();
                        act.probe_failed(&err, ctx);
                    }
                });
        ctx.spawn(carried_out);
    }

    /// Reading the store for a probe failed: the probe slot is free again, but nothing else
    /// offers it while polls fail too: without a retry, a store fault left the destination
    /// unprobed, and so failing, for good.
    fn probe_failed(&mut self, err: &StoreError, ctx: &mut Context<Self>) {
        let (id, retry_in) = (self.id(), self.deps.config.backoff_min);
        match err {
            // The store's fault is logged where it happened.
            StoreError::Unavailable(_) => {
                log::debug!("conn={id} no probe while the store is out: {err}");
            }
            err => log::warn!(
                "conn={id} reading pending containers for a probe failed: {}; \
                 trying again in {retry_in:?}",
                escaped(err)
            ),
        }
        ctx.run_later(retry_in, |act, ctx| act.offer_probe(ctx));
    }
}
