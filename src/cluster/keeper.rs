//! `LeaseKeeper`: the actor that keeps this instance's leases, on the supervisor's arbiter.
//! It schedules [`Keeping`]'s work and routes what the supervisor tells it; the work itself
//! (renew, read, balance, hand back) is in [`super::keeping`].
//!
//! A tick runs every third of the lease; between ticks a watchdog looks, ten times per
//! lease, whether a held lease went a whole lease without a renewal (the database
//! unreachable, the process paused): that connection stops at once, whatever the tick is
//! waiting for.

use std::rc::Rc;
use std::time::Duration;

use actix::prelude::*;

use super::keeping::Keeping;

/// The actor; see the module doc.
pub struct LeaseKeeper {
    keeping: Rc<Keeping>,
}

impl LeaseKeeper {
    /// A keeper doing `keeping`'s work.
    pub fn new(keeping: Keeping) -> Self {
        Self {
            keeping: Rc::new(keeping),
        }
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        let keeping = Rc::clone(&self.keeping);
        let interval = keeping.interval();
        let tick = async move { keeping.tick().await };
        ctx.spawn(tick.into_actor(self).map(move |(), _, ctx| {
            ctx.run_later(interval, |act, ctx| act.tick(ctx));
        }));
    }
}

impl Actor for LeaseKeeper {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let every = (self.keeping.interval() / 3).max(Duration::from_millis(50));
        ctx.run_interval(every, |act, _| act.keeping.watchdog());
        self.tick(ctx);
    }
}

/// A connection's write was refused by its fence: its lease is gone.
#[derive(Message)]
#[rtype(result = "()")]
pub struct LeaseLost {
    /// The connection.
    pub connection: String,
}

impl Handler<LeaseLost> for LeaseKeeper {
    type Result = ();

    fn handle(&mut self, msg: LeaseLost, _ctx: &mut Context<Self>) {
        self.keeping.fenced(&msg.connection);
    }
}

/// The configuration changed (a reload): new connections get lease rows and are shared
/// out, leases of removed ones are handed back, and the members row shows the new hash.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Reconfigured {
    /// Every configured connection.
    pub connections: Vec<String>,
    /// The new configuration's hash ([`super::config_hash`]).
    pub config_hash: String,
}

impl Handler<Reconfigured> for LeaseKeeper {
    type Result = ();

    fn handle(&mut self, msg: Reconfigured, _ctx: &mut Context<Self>) {
        self.keeping.reconfigure(msg.connections, msg.config_hash);
    }
}

/// A stop has begun: keep renewing what is held, take nothing more.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopTaking;

impl Handler<StopTaking> for LeaseKeeper {
    type Result = ();

    fn handle(&mut self, _: StopTaking, _ctx: &mut Context<Self>) {
        self.keeping.stop_taking();
    }
}

/// The connections stopped and the store was flushed: hand every lease back and leave the
/// members; answered once done.
#[derive(Message)]
#[rtype(result = "()")]
pub struct HandBack;

impl Handler<HandBack> for LeaseKeeper {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: HandBack, _ctx: &mut Context<Self>) -> Self::Result {
        let keeping = Rc::clone(&self.keeping);
        Box::pin(async move { keeping.hand_back().await })
    }
}
