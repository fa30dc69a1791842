//! `courier-sim`: a simulated EHR and webhook receiver on loopback, for `courier demo`, the
//! tests, the bench and the torture. It depends on `courier-wire` (signatures, ids, accepted
//! statuses), never on Courier, so it can check Courier from the outside.
//!
//! Both are real actix-web servers on `127.0.0.1:0` running on the current actix System, so
//! Courier talks to them over HTTP exactly as it talks to a real EHR and a real destination.
//! Each dereferences to a cloneable control handle ([`EhrControl`], [`ReceiverControl`]) that
//! tests use from any thread to change data, inject faults, script answers and read results.
//!
//! - [`ehr`]: the changes feed and FHIR-like records, with injectable [`Fault`]s (see
//!   [`faults`]; the bodies that break on the wire are streamed by `bodies`).
//! - [`consume`]: the EHR's consume-once feed, whose reads mark what they return processed.
//! - [`listing`]: the EHR's schedule, `GET /api/schedule`, a window of appointments paged by
//!   offset or link, consistent or not, for snapshot sources ([`ScheduleControl`]).
//! - [`fhir`]: a FHIR R4 server (search, history, metadata) whose writes, version ids, timing
//!   and faults tests control.
//! - [`receiver`]: verifies signatures, records every request, answers as scripted.
//! - [`demo_faults`]: `courier demo`'s script of faults (a poison record, a cancelled and
//!   rescheduled appointment, a receiver outage, a slow receiver), and [`demo_lines`], what
//!   it prints per request.
//! - [`inbox`]: what the receiver recorded, its scripted answers and the run's [`Summary`].
//! - [`ledger`]: the identity of every acknowledged notification, without bodies, and the
//!   [`Audit`] that proves a run gap-free and its ids consistent (the crash torture's check).
//! - [`disk`]: a tmpfs to fill under the store, for the full-disk tests and the torture.
//! - [`wait`]: [`eventually`] and the loop under it, waits on a condition with a deadline,
//!   for the tests; [`wait::eventually_async`] for a condition that awaits.
//! - [`load`] and [`counting`]: a load EHR (endless backlog or steady rate, payload size,
//!   latency, errors) and a receiver that counts instead of recording, for the benchmarks.
//! - [`postgres`]: a real PostgreSQL for the PostgreSQL store's tests (the local server or a
//!   throwaway cluster), a fresh database per test, and clusters a test can stop and restart.

mod bodies;
pub mod consume;
pub mod counting;
pub mod demo_faults;
pub mod demo_lines;
pub mod disk;
pub mod ehr;
pub mod faults;
pub mod fhir;
mod fhir_data;
mod fhir_date;
pub mod inbox;
pub mod ledger;
pub mod listing;
pub mod load;
pub mod postgres;
pub mod receiver;
mod records;
mod schedule;
pub mod wait;

#[cfg(test)]
mod consume_tests;
#[cfg(test)]
mod fault_tests;
#[cfg(test)]
mod tests;

use std::io;
use std::net::SocketAddr;

pub use counting::{CountingReceiver, TallyReport};
pub use demo_faults::{FaultPlan, FaultRun};
pub use ehr::{EhrControl, RequestObserver, SimEhr, SimEhrOptions};
pub use faults::{Fault, Route};
pub use fhir::{FhirControl, FhirFault, HistoryReads, SimFhir, VersionIds};
pub use inbox::{Received, ReceiverControl, Summary};
pub use ledger::{Audit, Identity, Ledger, Problems};
pub use listing::ScheduleControl;
pub use load::{LoadEhr, LoadEhrOptions, LoadFeed};
pub use receiver::{ReceiverOptions, SimReceiver};
pub use wait::{eventually, until};

/// Runs a server already bound to a loopback port 0 on the current actix System: its real
/// address, and the handle that stops it.
fn spawn_bound(
    addrs: Vec<SocketAddr>,
    server: actix_web::dev::Server,
) -> io::Result<(SocketAddr, actix_web::dev::ServerHandle)> {
    let addr = addrs
        .into_iter()
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::AddrNotAvailable, "bound to no address"))?;
    let handle = server.handle();
    actix_rt::spawn(server);
    Ok((addr, handle))
}
