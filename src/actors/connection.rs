//! `ConnectionActor`: one per connection. It owns the connection's poll timer and enricher,
//! and is the shell of its [`crate::dispatch`] machine: it feeds it what happens (a start,
//! a step due, the destination changing state, a container let go or promoted) and carries
//! out what it answers (walk the store, poll, dispatch the next container of a key, offer a
//! probe). It keeps polling while the destination does not accept notifications, and turns
//! any panic in its work into a supervised restart of this connection alone.

use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use super::claims::Claims;
use super::contain_panic;
use super::dispatch::{poll, recover, Dispatcher};
use super::enricher::{EnricherActor, EnricherDeps};
use super::heartbeat::HeartbeatActor;
use super::messages::{ConnectionFailed, Deliver, StopPolling};
use crate::cluster::keeper::LeaseLost;
use crate::config::{ConnectionConfig, DestinationConfig};
use crate::dispatch::{Action, Event, Step};
use crate::ehr::{EhrClient, Source};
use crate::pipeline::{PageResult, PollError};
use crate::retry::Backoff;
use crate::status::journal::{PollEntry, PollOutcome};
use crate::status::{ConnectionState, StatusBoard};
use crate::store::{Store, StoreError};

mod backlog;
mod control;
mod failure;

use failure::StuckPage;

/// A stuck page (all items at one position) is retried with at most this many times the
/// configured page size.
const MAX_PAGE_WIDENING: usize = 16;
/// After this long without a restart, the restart backoff starts again from its minimum.
const RESTART_BACKOFF_RESET: Duration = Duration::from_secs(600);

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
    /// Its destination's settings: the body format the enricher renders; heartbeats go
    /// there directly.
    pub destination: Arc<DestinationConfig>,
    /// The connection's dispatch (claims, key order, recovery), shared across restarts; it
    /// holds the destination's health.
    pub claims: Arc<Claims>,
    /// In a cluster, the lease keeper, told when a write of this connection is refused by
    /// its fence (another instance holds its lease now).
    pub lease_lost: Option<Recipient<LeaseLost>>,
}

/// The actor; see the module doc.
pub struct ConnectionActor {
    deps: ConnectionDeps,
    /// Incremented at every (re)start; claims and failure reports of older generations are
    /// void.
    generation: u64,
    /// Set for shutdown: nothing further is scheduled.
    stopped: bool,
    /// Set once this generation is going down, so a second failure does not stack restarts.
    failing: bool,
    client: Option<Rc<EhrClient>>,
    /// How this generation reads its changes (a FHIR poller keeps its round here).
    source: Option<Rc<Source>>,
    enricher: Option<Addr<EnricherActor>>,
    /// Sends heartbeats while the connection delivers nothing, when configured.
    heartbeat: Option<Addr<HeartbeatActor>>,
    /// Spaces out polls (and recoveries) after EHR or store failures.
    backoff: Backoff,
    /// Spaces out restarts after panics; survives restarts, so a panic that recurs at every
    /// start backs off instead of looping.
    restart_backoff: Backoff,
    last_restart: Option<Instant>,
    /// Page size of the next request; widened while the feed is stuck at one position.
    page_size: Option<usize>,
    /// Set by an operator: no polls until resumed; what is stored is still delivered.
    /// Survives supervised restarts.
    paused: bool,
    /// A recovery or poll is under way (its result re-arms the timer).
    busy: bool,
    /// The armed timer and the step it runs, so "poll now", "pause" and a due walk of the
    /// store can cancel it.
    timer: Option<(SpawnHandle, Step)>,
    /// Probes this connection offered, so successive probes try different containers.
    probe_turn: usize,
    /// When the step under way began: a poll's duration in the journal.
    step_started: Option<Instant>,
}

/// How a step ended: the page (for a poll), a failure, or a panic's message.
type StepOutcome = Result<Result<Option<PageResult>, PollError>, String>;

impl ConnectionDeps {
    /// What dispatching reads and feeds.
    pub fn dispatcher(&self) -> Dispatcher<'_> {
        Dispatcher {
            id: &self.config.id,
            store: &self.store,
            claims: &self.claims,
        }
    }
}

impl ConnectionActor {
    /// A connection actor; it starts polling when started.
    pub fn new(deps: ConnectionDeps) -> Self {
        let (min, max) = (deps.config.backoff_min, deps.config.backoff_max);
        let page_size = deps.config.source.page_size();
        Self {
            deps,
            generation: 0,
            stopped: false,
            failing: false,
            client: None,
            source: None,
            enricher: None,
            heartbeat: None,
            backoff: Backoff::new(min, max),
            restart_backoff: Backoff::new(min, max),
            last_restart: None,
            page_size,
            paused: false,
            busy: false,
            timer: None,
            probe_turn: 0,
            step_started: None,
        }
    }

    fn id(&self) -> &str {
        &self.deps.config.id
    }

    fn stop_enricher(&mut self) {
        if let Some(enricher) = self.enricher.take() {
            enricher.do_send(StopPolling);
        }
        if let Some(heartbeat) = self.heartbeat.take() {
            heartbeat.do_send(StopPolling);
        }
    }

    fn run(&mut self, step: Step, ctx: &mut Context<Self>) {
        if self.stopped || self.failing || self.busy {
            return;
        }
        let (Some(client), Some(source), Some(enricher)) = (
            self.client.clone(),
            self.source.clone(),
            self.enricher.clone(),
        ) else {
            return;
        };
        // Not caught up with the store at its current mark (a walk was cut short, the store
        // was re-opened): the machine turns a poll into a walk of the store.
        let seen = self.deps.dispatcher().seen();
        let step = match self.deps.claims.on(Event::StepDue(step, seen))[..] {
            [Action::Run(step)] => step,
            _ => step,
        };
        if step == Step::Poll && self.paused {
            return self.show_paused();
        }
        self.busy = true;
        self.step_started = Some(Instant::now());
        let (deps, page_size) = (self.deps.clone(), self.page_size);
        let work = async move {
            match step {
                Step::Walk => recover(deps.dispatcher(), &enricher).await.map(|()| None),
                Step::Poll => {
                    // The crate's own tests make a poll panic here; the product has no hook.
                    #[cfg(test)]
                    super::faults::before_poll(&deps.config.id);
                    poll(&deps, &client, &source, &enricher, page_size)
                        .await
                        .map(Some)
                }
            }
        };
        ctx.spawn(
            contain_panic(work)
                .into_actor(self)
                .map(move |outcome, act, ctx| act.after_step(step, outcome, ctx)),
        );
    }

    fn after_step(&mut self, step: Step, outcome: StepOutcome, ctx: &mut Context<Self>) {
        self.busy = false;
        if self.stopped {
            return;
        }
        match outcome {
            // The machine noted whether the step caught up (see `dispatch`).
            Ok(Ok(None)) => self.schedule(Step::Poll, Duration::ZERO, ctx),
            Ok(Ok(Some(page))) => {
                // A failing destination with a free probe slot is probed from what the poll
                // stored.
                self.offer_probe(ctx);
                self.after_poll(page, ctx);
            }
            Ok(Err(PollError::Store(StoreError::Fenced(_)))) => self.lost_lease(ctx),
            Ok(Err(err)) => self.after_failure(step, &err, ctx),
            Err(panic) => self.fail_hard(&panic, ctx),
        }
    }

    fn schedule(&mut self, step: Step, delay: Duration, ctx: &mut Context<Self>) {
        // A walk of the store that became due while busy runs at once (it asks the EHR
        // nothing, so no poll interval, EHR backoff or operator's pause applies to it).
        let walk = self.deps.claims.walk_due() && self.deps.claims.gate().accepts();
        if step == Step::Poll && self.paused && !walk {
            return self.show_paused();
        }
        let delay = if walk { Duration::ZERO } else { delay };
        let handle = ctx.run_later(delay, move |act, ctx| {
            act.timer = None;
            act.run(step, ctx);
        });
        if let Some((previous, _)) = self.timer.replace((handle, step)) {
            ctx.cancel_future(previous);
        }
    }

    fn after_poll(&mut self, page: PageResult, ctx: &mut Context<Self>) {
        if self.backoff.failures() > 0 {
            log::info!(
                "conn={} polling again after {} failures",
                self.id(),
                self.backoff.failures()
            );
        }
        self.backoff.reset();
        // The cursor and changes were shown as soon as the page was stored (see `dispatch`).
        self.deps.board.connection(self.id(), |c| {
            c.last_success = Some(self.deps.claims.gate().clock().now());
            c.last_error = None;
            c.consecutive_failures = 0;
            c.polls_ok += 1;
        });
        self.journal_poll(PollOutcome::Ok, page.created, None);
        if page.is_stuck() {
            return self.widen_page(&page, ctx);
        }
        if page.cursor_moved {
            // Past the crowded position: back to the configured page size.
            self.page_size = self.deps.config.source.page_size();
        }
        if page.was_full() {
            return self.schedule(Step::Poll, Duration::ZERO, ctx);
        }
        if !self.paused {
            self.deps
                .board
                .connection(self.id(), |c| c.state = ConnectionState::Idle);
        }
        let interval = self.deps.config.interval;
        self.schedule(
            Step::Poll,
            interval.mul_f64(1.0 + fastrand::f64() * 0.1),
            ctx,
        );
    }

    /// Records the poll that just ended in the journal (the console's last polls).
    fn journal_poll(&mut self, outcome: PollOutcome, changes: usize, error: Option<String>) {
        let took = self.step_started.take().map(|at| at.elapsed());
        let entry = PollEntry {
            at: self.deps.claims.gate().clock().now(),
            outcome,
            changes: u32::try_from(changes).unwrap_or(u32::MAX),
            duration_ms: took.map_or(0, |d| u32::try_from(d.as_millis()).unwrap_or(u32::MAX)),
            error: error.map(String::into_boxed_str),
        };
        self.deps.board.journal().poll(self.id(), entry);
    }

    /// Every item of a full page sat at the cursor's position: ask for a larger page, up to a
    /// bound, rather than loop on the same page forever.
    fn widen_page(&mut self, page: &PageResult, ctx: &mut Context<Self>) {
        let configured = self.deps.config.source.page_size().unwrap_or(1);
        let current = self.page_size.unwrap_or(configured);
        if current >= configured.saturating_mul(MAX_PAGE_WIDENING) {
            // Only a changes feed's page is ever stuck: a FHIR page asks for no page size.
            let feed = self.deps.config.source.changes();
            let since_param = feed.map_or("", |feed| feed.since_param.as_str());
            let reason = StuckPage(page.stuck_reason(current, since_param));
            return self.after_failure(Step::Poll, &reason, ctx);
        }
        self.page_size = Some(current * 2);
        log::debug!(
            "conn={} {} items at one position; page size {}",
            self.id(),
            page.returned,
            current * 2
        );
        self.schedule(Step::Poll, Duration::ZERO, ctx);
    }
}

impl Actor for ConnectionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.generation += 1;
        self.failing = false;
        if self.stopped {
            return;
        }
        let meters = self.deps.board.meters().connection(self.id());
        let client = Rc::new(
            EhrClient::new(&self.deps.config)
                .with_meters(meters)
                .with_clock(self.deps.claims.gate().clock().clone()),
        );
        let deps = EnricherDeps {
            config: Arc::clone(&self.deps.config),
            client: Rc::clone(&client),
            deliver: self.deps.deliver.clone(),
            format: self.deps.destination.format,
            failed: ctx.address().recipient(),
            board: self.deps.board.clone(),
        };
        let enricher = EnricherActor::new(deps, self.generation).start();
        self.client = Some(client);
        self.source = Some(Rc::new(Source::for_connection(&self.deps.config)));
        self.enricher = Some(enricher);
        self.heartbeat = HeartbeatActor::for_connection(&self.deps);
        let actions = self.deps.claims.begin_generation(ctx.address().recipient());
        self.busy = false;
        self.deps
            .board
            .connection(self.id(), |c| c.state = ConnectionState::Starting);
        log::info!(
            "conn={} started (generation {})",
            self.id(),
            self.generation
        );
        self.carry_out(actions, ctx);
    }
}

impl Supervised for ConnectionActor {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        // The old enricher was stopped in `fail_hard`, cancelling its work; its claims belong
        // to the old generation and are void once `started` bumps the generation.
        self.stop_enricher();
        self.client = None;
        self.source = None;
        self.page_size = self.deps.config.source.page_size();
    }
}

impl Handler<ConnectionFailed> for ConnectionActor {
    type Result = ();

    fn handle(&mut self, msg: ConnectionFailed, ctx: &mut Context<Self>) {
        // A report from an older generation concerns work that is already cancelled.
        if msg.fenced {
            self.lost_lease(ctx);
        } else if msg.generation.is_none_or(|g| g == self.generation) {
            self.fail_hard(&msg.reason, ctx);
        }
    }
}

impl Handler<StopPolling> for ConnectionActor {
    type Result = ();

    fn handle(&mut self, _: StopPolling, _ctx: &mut Context<Self>) {
        self.stopped = true;
        self.deps.claims.end_generation();
        self.stop_enricher();
        self.deps
            .board
            .connection(self.id(), |c| c.state = ConnectionState::Stopped);
        log::info!("conn={} stopped polling", self.id());
    }
}
