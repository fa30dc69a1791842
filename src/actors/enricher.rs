//! `EnricherActor`: enriches a connection's containers, a bounded number at a time, and hands
//! the finished notifications to delivery.

use std::rc::Rc;
use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::Semaphore;

use super::contain_panic;
use super::messages::{ConnectionFailed, Deliver, Enrich, StopPolling};
use crate::config::ConnectionConfig;
use crate::delivery::retry::Backoff;
use crate::ehr::enrich::enrich;
use crate::ehr::EhrClient;
use crate::model::Notification;
use crate::status::StatusBoard;

/// One per connection, started (and restarted) by its `ConnectionActor`, sharing its client.
pub struct EnricherActor {
    config: Arc<ConnectionConfig>,
    client: Rc<EhrClient>,
    deliver: Recipient<Deliver>,
    failed: Recipient<ConnectionFailed>,
    board: StatusBoard,
    /// Containers being enriched or waiting to be handed over; bounds memory and EHR load.
    room: Arc<Semaphore>,
}

impl EnricherActor {
    /// An enricher for `config`'s containers; panics are reported to `failed`.
    pub fn new(
        config: Arc<ConnectionConfig>,
        client: Rc<EhrClient>,
        deliver: Recipient<Deliver>,
        failed: Recipient<ConnectionFailed>,
        board: StatusBoard,
    ) -> Self {
        let room = Arc::new(Semaphore::new(config.max_concurrent_enrichments));
        Self {
            config,
            client,
            deliver,
            failed,
            board,
            room,
        }
    }
}

impl Actor for EnricherActor {
    type Context = Context<Self>;
}

impl Handler<Enrich> for EnricherActor {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, msg: Enrich, _ctx: &mut Context<Self>) -> Self::Result {
        let room = Arc::clone(&self.room);
        Box::pin(
            async move {
                room.acquire_owned()
                    .await
                    .expect("the semaphore is never closed")
            }
            .into_actor(self)
            .map(move |permit, act, ctx| {
                let work = enrich_and_hand_over(
                    Rc::clone(&act.client),
                    Arc::clone(&act.config),
                    act.deliver.clone(),
                    act.board.clone(),
                    msg,
                );
                let failed = act.failed.clone();
                ctx.spawn(
                    async move {
                        if let Err(reason) = contain_panic(work).await {
                            failed.do_send(ConnectionFailed { reason });
                        }
                        drop(permit);
                    }
                    .into_actor(act),
                );
            }),
        )
    }
}

impl Handler<StopPolling> for EnricherActor {
    type Result = ();

    /// Stops at once, cancelling enrichments in progress: their containers are durable and
    /// are dispatched again by the connection's next generation or the next start.
    fn handle(&mut self, _: StopPolling, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

/// Enriches until it succeeds (backing off on EHR failures; the container is durable, so
/// waiting loses nothing), then hands the notification to delivery.
async fn enrich_and_hand_over(
    client: Rc<EhrClient>,
    config: Arc<ConnectionConfig>,
    deliver: Recipient<Deliver>,
    board: StatusBoard,
    msg: Enrich,
) {
    let Enrich { container, claim } = msg;
    let mut backoff = Backoff::new(config.backoff_min, config.backoff_max);
    let enriched = loop {
        match enrich(&client, &config.enrich, &container).await {
            Ok(enriched) => break enriched,
            Err(err) => {
                board.connection(&config.id, |c| c.enrich_failures += 1);
                let delay = backoff.fail(err.retry_after());
                if backoff.failures() == 1 {
                    log::warn!(
                        "conn={} notif={} enrichment failed ({}): {err}; retrying",
                        config.id,
                        container.notification_id,
                        err.kind()
                    );
                }
                actix_rt::time::sleep(delay).await;
            }
        }
    };
    let notification = Notification::build(&container, enriched.resources, &enriched.missing);
    claim.delivering();
    if deliver
        .send(Deliver {
            notification,
            claim,
        })
        .await
        .is_err()
    {
        // Only at shutdown: the container stays pending and is delivered after the restart.
        log::debug!(
            "conn={} notif={} delivery is stopped",
            config.id,
            container.notification_id
        );
    }
}
