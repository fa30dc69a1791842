//! Getting a notification to its destination: signing, the retry schedule, the HTTP sender,
//! per-key order, the destination's health, and the loop that sees one notification through.

pub mod gate;
pub mod health;
pub mod order;
pub mod retry;
pub mod sender;
pub mod signing;
pub mod worker;
