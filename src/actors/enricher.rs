//! `EnricherActor`: enriches a connection's containers, a bounded number at a time, and hands
//! the finished notifications to delivery.

use std::rc::Rc;
use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::Semaphore;

use super::messages::{ConnectionFailed, Deliver, Enrich, StopPolling};
use super::{admit, contain_panic};
use crate::config::ConnectionConfig;
use crate::ehr::enrich::enrich_container;
use crate::ehr::EhrClient;
use crate::escape::escaped;
use crate::fhir::subscription::Origin;
use crate::model::{Notification, NotificationFormat};
use crate::retry::Backoff;
use crate::status::StatusBoard;

/// What an enricher and each of its enrichments need; cheap to clone.
#[derive(Clone)]
pub struct EnricherDeps {
    /// The connection's settings (its enrichment steps and backoff).
    pub config: Arc<ConnectionConfig>,
    /// The connection's EHR client, shared with its polls.
    pub client: Rc<EhrClient>,
    /// The destination's delivery actor on this worker.
    pub deliver: Recipient<Deliver>,
    /// The destination's body format.
    pub format: NotificationFormat,
    /// The connection, told when an enrichment panics.
    pub failed: Recipient<ConnectionFailed>,
    /// Where enrichment errors are shown.
    pub board: StatusBoard,
}

/// One per connection, started (and restarted) by its `ConnectionActor`, sharing its client.
pub struct EnricherActor {
    deps: EnricherDeps,
    /// The connection generation this enricher works for; its failure reports carry it.
    generation: u64,
    /// Containers being enriched or waiting to be handed over; bounds memory and EHR load.
    room: Arc<Semaphore>,
}

impl EnricherActor {
    /// An enricher working for connection generation `generation`.
    pub fn new(deps: EnricherDeps, generation: u64) -> Self {
        let room = Arc::new(Semaphore::new(deps.config.max_concurrent_enrichments));
        Self {
            deps,
            generation,
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
        admit(&self.room, move |act: &mut Self| {
            let claim = msg.claim.clone();
            let work = enrich_and_hand_over(act.deps.clone(), msg);
            let (failed, generation) = (act.deps.failed.clone(), Some(act.generation));
            async move {
                if let Err(reason) = contain_panic(work).await {
                    // Its container stays pending; the restart dispatches it again.
                    claim.let_go();
                    failed.do_send(ConnectionFailed {
                        generation,
                        reason,
                        fenced: false,
                    });
                }
            }
        })
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
async fn enrich_and_hand_over(job: EnricherDeps, msg: Enrich) {
    let Enrich {
        container,
        claim,
        probe,
    } = msg;
    let id = &job.config.id;
    let mut backoff = Backoff::new(job.config.backoff_min, job.config.backoff_max);
    let enriched = loop {
        match enrich_container(&job.client, &job.config, &container).await {
            Ok(enriched) => break enriched,
            Err(err) => {
                let first = job.board.connection(id, |c| {
                    c.enrich_failures += 1;
                    c.enrich_error.replace(err.to_string()).is_none()
                });
                if first {
                    log::warn!(
                        "conn={id} notif={} enrichment failing ({}): {}; retrying with backoff",
                        container.notification_id,
                        err.kind(),
                        escaped(&err)
                    );
                }
                actix_rt::time::sleep(backoff.fail(err.retry_after())).await;
            }
        }
    };
    if job
        .board
        .connection(id, |c| c.enrich_error.take().is_some())
    {
        log::info!("conn={id} enrichment succeeding again");
    }
    if !claim.is_current() {
        // A restart voided the claim: the new generation dispatches the container again.
        return;
    }
    let origin = Origin {
        connection: id,
        base_url: &job.config.base_url,
    };
    let notification = Notification::build_in(
        job.format,
        &container,
        enriched.resources,
        &enriched.missing,
        &origin,
    );
    let (failed, kept) = (job.failed, claim.clone());
    let deliver = Deliver {
        notification,
        claim,
        failed,
        probe,
    };
    if job.deliver.send(deliver).await.is_err() {
        // Only at shutdown: the container stays pending and is delivered after the restart.
        kept.let_go();
        log::debug!(
            "conn={id} notif={} delivery is stopped",
            container.notification_id
        );
    }
}
