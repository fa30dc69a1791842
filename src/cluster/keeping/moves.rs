//! Moving leases: taking one (fence granted, then the connection started here) and handing
//! them back (fence revoked, connection stopped, then the rows freed for the others).

use std::time::Instant;

use super::{Held, Keeping};
use crate::actors::supervisor::{Disown, Own};
use crate::escape::escaped;
use crate::store::StoreError;

impl Keeping {
    /// Takes `connection`'s lease if it is still free, then starts it here.
    pub(super) async fn take(&self, connection: &str) -> Result<(), StoreError> {
        let started = Instant::now();
        let Some(taken) = self.leases.acquire(connection).await? else {
            return Ok(());
        };
        let epoch = taken.fence.epoch;
        if let Err(err) = self.pg.own(connection, taken.fence).await {
            self.leases
                .release(&[(connection.to_owned(), epoch)])
                .await?;
            return Err(err);
        }
        let held = Held {
            epoch,
            redispatch: taken.redispatch,
            valid_from: started,
        };
        self.held.borrow_mut().insert(connection.to_owned(), held);
        let me = self.membership.instance();
        let takeover = taken.from.as_deref().filter(|from| *from != me);
        self.board.update(|s| {
            s.leases_held += 1;
            s.takeovers += u64::from(takeover.is_some());
        });
        match takeover {
            Some(from) => {
                log::info!("took lease of conn={connection} (epoch {epoch}, from {from})")
            }
            None => log::info!("took lease of conn={connection} (epoch {epoch})"),
        }
        let own = Own {
            connection: connection.to_owned(),
        };
        if self.hands.own.send(own).await.is_err() {
            log::warn!("conn={connection} could not be started: the supervisor is gone");
        }
        Ok(())
    }

    /// Stops `connections` here and hands their leases back, free for the others at once.
    pub(super) async fn hand_over(&self, connections: &[String]) {
        let mut released = Vec::new();
        for connection in connections {
            let Some(held) = self.held.borrow_mut().remove(connection) else {
                continue;
            };
            self.pg.disown(connection);
            self.hands.disown.do_send(Disown {
                connection: connection.clone(),
            });
            released.push((connection.clone(), held.epoch));
        }
        self.board
            .update(|s| s.leases_held = self.held.borrow().len() as u64);
        if released.is_empty() {
            return;
        }
        match self.leases.release(&released).await {
            Ok(_) => {
                for (connection, _) in &released {
                    log::info!("handed back conn={connection}");
                }
            }
            // Stopped here already; the others take them when they lapse.
            Err(err) => self.failed(&err),
        }
    }

    /// At a stop, once the connections stopped and the store was flushed: hands every lease
    /// back and leaves the members, so the others take the connections at their next tick.
    pub async fn hand_back(&self) {
        let _turn = self.turn.lock().await;
        self.done.set(true);
        let held: Vec<String> = self.held.borrow().keys().cloned().collect();
        self.hand_over(&held).await;
        if let Err(err) = self.membership.leave().await {
            log::warn!(
                "cluster: could not leave the members ({}); the others see this instance gone \
                 after {:?}",
                escaped(&err),
                self.lease
            );
        }
    }
}
