//! `ConnectionActor`: one per connection. It owns the connection's poll timer and enricher,
//! re-dispatches what the store holds when it (re)starts, and turns any panic in its work into
//! a supervised restart of this connection alone.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use chrono::Utc;

use super::claims::Claims;
use super::contain_panic;
use super::enricher::EnricherActor;
use super::messages::{ConnectionFailed, Deliver, Enrich, StopPolling};
use crate::config::ConnectionConfig;
use crate::delivery::retry::Backoff;
use crate::ehr::poll::{poll_page, PageResult, PollError};
use crate::ehr::EhrClient;
use crate::status::{ConnectionState, StatusBoard};
use crate::store::{Store, StoreError};

/// A hook called at the start of every poll with the connection id. Tests use it to inject a
/// panic and prove that a failing connection restarts alone; `None` in production.
pub type PollHook = Arc<dyn Fn(&str) + Send + Sync>;

/// Containers read from the store per recovery batch.
const RECOVERY_BATCH: usize = 256;
/// A stuck page (all items at the cursor's position) is retried with at most this many
/// times the configured page size.
const MAX_PAGE_WIDENING: usize = 16;

/// Everything a connection needs that outlives its restarts.
#[derive(Clone)]
pub struct ConnectionDeps {
    /// The connection's settings.
    pub config: Arc<ConnectionConfig>,
    /// The store.
    pub store: Store,
    /// Where status is shown.
    pub board: StatusBoard,
    /// Its destination's delivery actor on this worker.
    pub deliver: Recipient<Deliver>,
    /// The connection's in-flight claims (shared across restarts).
    pub claims: Arc<Claims>,
    /// Test-only fault injection.
    pub poll_hook: Option<PollHook>,
}

/// The actor; see the module doc.
pub struct ConnectionActor {
    deps: ConnectionDeps,
    /// Incremented at every (re)start; claims of older generations are void.
    generation: u64,
    /// Set for shutdown: no further poll is scheduled.
    stopped: bool,
    client: Option<Rc<EhrClient>>,
    enricher: Option<Addr<EnricherActor>>,
    backoff: Backoff,
    /// Page size of the next request; widened while the feed is stuck at one position.
    page_size: Option<usize>,
}

enum Step {
    Recover,
    Poll,
}

impl ConnectionActor {
    /// A connection actor; it starts polling when started.
    pub fn new(deps: ConnectionDeps) -> Self {
        let backoff = Backoff::new(deps.config.backoff_min, deps.config.backoff_max);
        let page_size = deps.config.page_size;
        Self {
            deps,
            generation: 0,
            stopped: false,
            client: None,
            enricher: None,
            backoff,
            page_size,
        }
    }

    fn stop_enricher(&mut self) {
        if let Some(enricher) = self.enricher.take() {
            enricher.do_send(StopPolling);
        }
    }

    fn id(&self) -> &str {
        &self.deps.config.id
    }

    fn run(&mut self, step: Step, ctx: &mut Context<Self>) {
        if self.stopped {
            return;
        }
        let (Some(client), Some(enricher)) = (self.client.clone(), self.enricher.clone()) else {
            return;
        };
        let deps = self.deps.clone();
        let generation = self.generation;
        let page_size = self.page_size;
        let work = async move {
            match step {
                Step::Recover => recover(&deps, generation, &enricher).await.map(|()| None),
                Step::Poll => poll(&deps, generation, &client, &enricher, page_size)
                    .await
                    .map(Some),
            }
        };
        ctx.spawn(
            contain_panic(work)
                .into_actor(self)
                .map(|outcome, act, ctx| match outcome {
                    Ok(Ok(page)) => act.after_success(page, ctx),
                    Ok(Err(err)) => act.after_failure(&err, ctx),
                    Err(panic) => act.fail_hard(&panic, ctx),
                }),
        );
    }

    fn schedule(&mut self, delay: Duration, ctx: &mut Context<Self>) {
        ctx.run_later(delay, |act, ctx| act.run(Step::Poll, ctx));
    }

    fn after_success(&mut self, page: Option<PageResult>, ctx: &mut Context<Self>) {
        if self.backoff.failures() > 0 {
            log::info!(
                "conn={} polling again after {} failures",
                self.id(),
                self.backoff.failures()
            );
        }
        self.backoff.reset();
        let Some(page) = page else {
            // Recovery done: poll at once.
            return self.schedule(Duration::ZERO, ctx);
        };
        self.deps.board.connection(self.id(), |c| {
            c.state = ConnectionState::Polling;
            c.cursor = Some(page.cursor.to_string());
            c.last_success = Some(Utc::now());
            c.last_error = None;
            c.consecutive_failures = 0;
            c.polls_ok += 1;
            c.changes += page.containers.len() as u64;
        });
        if page.is_stuck() {
            return self.widen_page(&page, ctx);
        }
        if page.cursor_moved {
            // Past the crowded position: back to the configured page size.
            self.page_size = self.deps.config.page_size;
        }
        if page.was_full() {
            return self.schedule(Duration::ZERO, ctx);
        }
        self.deps
            .board
            .connection(self.id(), |c| c.state = ConnectionState::Idle);
        let interval = self.deps.config.interval;
        self.schedule(interval.mul_f64(1.0 + fastrand::f64() * 0.1), ctx);
    }

    /// Every item of a full page sat at the cursor's position: ask for a larger page, up to a
    /// bound, rather than loop on the same page forever.
    fn widen_page(&mut self, page: &PageResult, ctx: &mut Context<Self>) {
        let configured = self.deps.config.page_size.unwrap_or(1);
        let current = self.page_size.unwrap_or(configured);
        if current >= configured * MAX_PAGE_WIDENING {
            let reason = format!(
                "{} items share cursor position {}; raise page_size above {current}",
                page.returned, page.cursor
            );
            return self.after_failure(&reason, ctx);
        }
        self.page_size = Some(current * 2);
        log::info!(
            "conn={} {} items at one cursor position; page size {}",
            self.id(),
            page.returned,
            current * 2
        );
        self.schedule(Duration::ZERO, ctx);
    }

    fn after_failure(&mut self, err: &dyn FailureInfo, ctx: &mut Context<Self>) {
        let delay = self.backoff.fail(err.retry_after());
        let until = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
        let first = self.deps.board.connection(self.id(), |c| {
            c.state = ConnectionState::BackingOff { until };
            c.last_error = Some(err.to_string());
            c.consecutive_failures += 1;
            c.polls_failed += 1;
            c.consecutive_failures == 1
        });
        if first {
            log::warn!(
                "conn={} poll failed ({}): {err}; backing off",
                self.id(),
                err.kind()
            );
        } else {
            log::debug!(
                "conn={} poll failed again ({}); next in {delay:?}",
                self.id(),
                err.kind()
            );
        }
        self.schedule(delay, ctx);
    }

    /// A panic in this connection's work: record it, then stop after a backoff so the
    /// supervisor restarts this connection (and only it) with fresh state.
    fn fail_hard(&mut self, reason: &str, ctx: &mut Context<Self>) {
        log::error!(
            "conn={} failed: {reason}; restarting the connection",
            self.id()
        );
        self.deps.board.connection(self.id(), |c| {
            c.state = ConnectionState::Restarting;
            c.last_error = Some(format!("panic: {reason}"));
            c.restarts += 1;
        });
        let delay = self.backoff.fail(None);
        ctx.run_later(delay, |_, ctx| ctx.stop());
    }
}

impl Actor for ConnectionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.generation += 1;
        let client = Rc::new(EhrClient::new(&self.deps.config));
        let enricher = EnricherActor::new(
            Arc::clone(&self.deps.config),
            Rc::clone(&client),
            self.deps.deliver.clone(),
            ctx.address().recipient(),
            self.deps.board.clone(),
        )
        .start();
        self.client = Some(client);
        self.enricher = Some(enricher);
        self.deps
            .board
            .connection(self.id(), |c| c.state = ConnectionState::Starting);
        log::info!(
            "conn={} started (generation {})",
            self.id(),
            self.generation
        );
        self.run(Step::Recover, ctx);
    }
}

impl Supervised for ConnectionActor {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        // Stop the old enricher, cancelling its work; its claims belong to the old generation
        // and are void once `started` bumps the generation.
        self.stop_enricher();
        self.client = None;
        self.page_size = self.deps.config.page_size;
    }
}

impl Handler<ConnectionFailed> for ConnectionActor {
    type Result = ();

    fn handle(&mut self, msg: ConnectionFailed, ctx: &mut Context<Self>) {
        self.fail_hard(&msg.reason, ctx);
    }
}

impl Handler<StopPolling> for ConnectionActor {
    type Result = ();

    fn handle(&mut self, _: StopPolling, _ctx: &mut Context<Self>) {
        self.stopped = true;
        self.stop_enricher();
        self.deps
            .board
            .connection(self.id(), |c| c.state = ConnectionState::Stopped);
        log::info!("conn={} stopped polling", self.id());
    }
}

/// What the failure handling needs to know about any failure.
trait FailureInfo: std::fmt::Display {
    fn retry_after(&self) -> Option<Duration>;
    fn kind(&self) -> &'static str;
}

impl FailureInfo for PollError {
    fn retry_after(&self) -> Option<Duration> {
        PollError::retry_after(self)
    }
    fn kind(&self) -> &'static str {
        PollError::kind(self)
    }
}

impl FailureInfo for String {
    fn retry_after(&self) -> Option<Duration> {
        None
    }
    fn kind(&self) -> &'static str {
        "stuck_page"
    }
}

/// Re-dispatches every stored container of the connection that is not in flight, in
/// sequence order, in batches, waiting for the enricher to make room.
async fn recover(
    deps: &ConnectionDeps,
    generation: u64,
    enricher: &Addr<EnricherActor>,
) -> Result<(), PollError> {
    let mut from = 0;
    let mut dispatched = 0usize;
    loop {
        let batch = deps
            .store
            .pending(&deps.config.id, from)
            .take(RECOVERY_BATCH)
            .collect::<Result<Vec<_>, StoreError>>()?;
        let Some(last) = batch.last() else { break };
        from = last.sequence + 1;
        for container in batch {
            if let Some(claim) = deps.claims.try_claim(container.sequence, generation) {
                dispatched += 1;
                if enricher.send(Enrich { container, claim }).await.is_err() {
                    return Ok(());
                }
            }
        }
    }
    if dispatched > 0 {
        log::info!(
            "conn={} recovered {dispatched} pending containers",
            deps.config.id
        );
    }
    Ok(())
}

/// One poll: the test hook, one page made durable, then its containers dispatched.
async fn poll(
    deps: &ConnectionDeps,
    generation: u64,
    client: &EhrClient,
    enricher: &Addr<EnricherActor>,
    page_size: Option<usize>,
) -> Result<PageResult, PollError> {
    if let Some(hook) = &deps.poll_hook {
        hook(&deps.config.id);
    }
    deps.board
        .connection(&deps.config.id, |c| c.state = ConnectionState::Polling);
    let page = poll_page(client, &deps.config, &deps.store, page_size).await?;
    for container in &page.containers {
        // Fresh containers are never claimed; a miss would mean a bug, and recovery would
        // still pick the container up after a restart.
        if let Some(claim) = deps.claims.try_claim(container.sequence, generation) {
            let container = container.clone();
            if enricher.send(Enrich { container, claim }).await.is_err() {
                break;
            }
        }
    }
    Ok(page)
}
