//! The supervisor in a cluster: it starts no connection by itself; the lease keeper tells it
//! which connections this instance owns ([`Own`]) and which it gave up or lost ([`Disown`]).
//! A disowned connection stops the way a reload retires one: its timer and in-flight poll
//! are cancelled, deliveries already handed over finish (their completions are fenced, so
//! at worst the new owner delivers them again with the same ids).

use actix::prelude::*;

use super::Supervisor;
use crate::actors::control::Retire;

/// Start `connection` here: this instance took its lease (and the store its fence).
#[derive(Message)]
#[rtype(result = "bool")]
pub struct Own {
    /// The connection id.
    pub connection: String,
}

/// Stop `connection` here: its lease was handed back or lost (the store refuses its writes
/// already).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Disown {
    /// The connection id.
    pub connection: String,
}

impl Handler<Own> for Supervisor {
    type Result = bool;

    /// Answers whether the connection runs here now; `false` for one the configuration no
    /// longer has.
    fn handle(&mut self, msg: Own, _ctx: &mut Context<Self>) -> bool {
        let id = msg.connection;
        if !self.config.connections.contains_key(&id) {
            return false;
        }
        if !self.connections.contains_key(&id) {
            self.start_connection(&id);
        }
        true
    }
}

impl Handler<Disown> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: Disown, _ctx: &mut Context<Self>) {
        let Some(addr) = self.connections.remove(&msg.connection) else {
            return;
        };
        addr.do_send(Retire {
            forget: true,
            reason: "here: this instance no longer holds its lease",
        });
        // Its claims stay (deliveries in flight keep their keys) for a later start here.
        if let Some(claims) = self.claims.get(&msg.connection) {
            claims.end_generation();
        }
    }
}
