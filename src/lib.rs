//! Courier polls EHR APIs that cannot push events and delivers one signed webhook
//! notification per changed record, never losing one.
//!
//! # Module map
//! The pipeline reads top to bottom:
//! - [`config`]: typed, validated settings (`courier check` prints their errors); a
//!   connection's source is a [`config::Source`]: a changes feed, a FHIR server (searched by
//!   `_lastUpdated`, or by a date window), a snapshot listing, or a consume-once feed.
//! - [`ehr`]: talking to an EHR, and nothing else: authentication (static credentials, OAuth
//!   2.0 and SMART backend tokens), the HTTP client, the sources (a changes feed; a FHIR
//!   server's searches and histories; listings of a time window compared record by record,
//!   `ehr::snapshot`; a feed that hands each change out once) that read one page from a given
//!   position into an outcome, enriching a container. Plain async code, no actors, no store.
//! - [`fhir`]: FHIR R4 semantics: resource fingerprints, semantic event types, and the
//!   FHIR-native shapes Courier delivers. Pure code, no actors.
//! - [`pipeline`]: one poll made durable: the source's position read from the store, the
//!   source asked for the page after it, the page's containers committed with the new
//!   position (and the FHIR versions seen, or the records a listing compared) in one
//!   transaction; `pipeline::snapshot` drives a listing page by page and its sweep. Plain
//!   async code, no actors.
//! - [`store`]: the durable state behind small async traits (page commits, pending
//!   containers, completion, dead letters, retained notifications, health), each stating
//!   its invariants: cursors, sequence numbers, pending containers and their backlog
//!   counters, dead letters, delivered notifications retained for replay. Backends: sled
//!   (`store::sled`, the default, embedded), PostgreSQL (`store::postgres`, shared by a
//!   cluster, every write fenced by its connection's lease) and in memory (`store::memory`,
//!   for tests).
//! - [`cluster`]: instances sharing a PostgreSQL store: members, leases renewed on a timer,
//!   the balance of connections between live instances, and the view `/status` shows.
//! - [`model`]: change items, containers, notifications, cursor order, notification ids, the
//!   FHIR nouns (cursors per resource type and track, versions seen, changes to commit), and
//!   the record sources' (what is kept per record between listings, a page to commit).
//! - [`window`]: time expressions (`now-1d`, `today+14d`) and the query templates and windows
//!   built from them. Pure, and imports nothing of the crate.
//! - [`template`], [`client_key`]: an enrichment path template, a SMART client's private
//!   key and its JWS algorithm. Parsed at load by [`config`], used by [`ehr`]; they import
//!   nothing of the crate, so the configuration does not depend on the EHR layer.
//! - [`retry`]: when to try again, on either side: the delivery schedule, the EHR backoff,
//!   `Retry-After` and which statuses are worth retrying. Pure, and imports nothing of the
//!   crate.
//! - [`delivery`]: Standard Webhooks signing (from `courier-wire`), what counts as delivered, the HTTP sender,
//!   per-key order, each destination's health (its gate), heartbeats and replays.
//! - [`dispatch`]: which stored containers may move, and when, as a plain state machine
//!   (`on(event) -> actions`): claims, per-key promotion, recovery walks, completion batches.
//! - [`actors`]: the supervised actor tree that schedules and routes the work above; its
//!   actors feed [`dispatch`] events and carry out its actions.
//! - [`tls`]: the HTTP clients of both sides: TLS roots, private CAs and client certificates.
//! - [`status`]: what each connection and destination is doing, for people and tests.
//! - [`app`]: builds the actor tree from a configuration and stops it gracefully; its
//!   `Operations` act on dead letters and run replays.
//! - [`admin`]: the admin HTTP API beside a running app: health, metrics, status, control.
//! - [`metrics`]: lock-free meters and the Prometheus text exposition.
//! - [`clock`]: the one seam the service reads the time through: the system clock, or a
//!   clock a test advances.
//! - [`escape`]: outside text (record keys, ids, URLs, error texts) escaped for log lines.
//! - [`reload`]: re-reading the configuration of a running app (SIGHUP, `POST /reload`).
//!
//! # The workspace
//! This library and the `courier` binary (`src/cli/`, whose `courier demo` runs the pipeline
//! between a simulated EHR and receiver) are the product; the rigs are crates of their own,
//! which the library's code never uses (only its unit tests that inject a panic, through
//! `app::rig`, run the simulators):
//! - `courier-wire` (`crates/wire`): what Courier and the simulators agree on, importing
//!   nothing from Courier: Standard Webhooks signing, notification ids, accepted statuses.
//! - `courier-sim` (`crates/sim`): simulated EHRs, FHIR server and receivers, the load EHR
//!   and counting receiver, the torture's ledger; for the demo, the tests and the bench.
//! - `courier-bench` (`crates/bench`): the benchmark suite (BENCHMARKS.md).
//! - `courier-torture` (`crates/torture`): the crash torture (bench/TORTURE.md).
//!
//! # Delivery semantics
//! - **At least once.** A poll's containers and its cursor advance are written in one sled
//!   transaction and flushed before the next page is read. A container leaves the store only
//!   when its destination answered 2xx, or when its retry schedule ran out, and then it moves
//!   to the dead-letter tree with every attempt. Whatever was pending at a crash is enriched
//!   and delivered after the restart.
//! - **Same id for the same change.** A notification's id is a hash of connection, record key
//!   and record version, so a duplicate carries the id (and sequence) of the original.
//!   Duplicates are bounded: what was in flight at a crash or a connection restart, plus what
//!   was acknowledged in the last ~100 ms before a crash (removals are flushed in the
//!   background, not per notification).
//! - **Gap-free sequence.** Each connection numbers its containers 1, 2, 3… in the same
//!   transaction that creates them, so a receiver can tell a gap from silence.
//! - **Order.** With `ordering = "per_key"` (the default), notifications of one connection
//!   that share a key arrive one at a time in sequence order, across retries and restarts,
//!   while other keys flow past a waiting one; with `"none"` they may arrive out of order
//!   (use `sequence`). See [`delivery::order`].
//! - **A down destination.** After `failure_threshold` failures in a row it is only probed;
//!   polling goes on and the backlog waits in the store, dead-lettering nothing, until the
//!   first success. A schedule that runs out while nothing succeeded (a low-volume
//!   destination) makes it failing too, instead of a dead letter. See [`delivery::worker`]
//!   and [`delivery::health`].
//! - **A full disk.** The first write the disk refuses takes the store's files out of service
//!   (sled would serve pages that never reached the disk) until a background re-open works;
//!   meanwhile nothing is polled, and an acknowledged delivery whose completion cannot be
//!   written keeps its claim, so it is not sent again. See [`store`] (`reopen`).
//! - **A damaged store** is refused at start, never reset quietly: a file sled cannot open is
//!   an error naming the store, and a store behind its high-water marks (state it had
//!   confirmed, now gone) needs the operator's explicit acceptance. See [`store::marks`].

pub mod actors;
pub mod admin;
pub mod app;
pub mod client_key;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod delivery;
pub mod dispatch;
pub mod ehr;
pub mod escape;
pub mod fhir;
pub mod metrics;
pub mod model;
pub mod pipeline;
pub mod reload;
pub mod retry;
pub mod status;
pub mod store;
pub mod template;
pub mod tls;
pub mod window;
