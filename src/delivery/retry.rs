//! What counts as a delivered notification: only a 2xx answer. The rule itself lives in
//! `courier-wire`, so the simulated receiver and Courier can never disagree on it.

pub use courier_wire::is_success;
