//! Getting a notification to its destination: signing, the retry schedule, the HTTP sender,
//! per-key order, the destination's health, the loop that sees one notification through,
//! heartbeats and replays.

pub mod gate;
pub mod gates;
pub mod health;
pub mod heartbeat;
pub mod order;
pub mod replay;
pub mod retry;
pub mod sender;
pub mod signing;
pub mod worker;
