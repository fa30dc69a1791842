//! Getting a notification to its destination: signing, the retry schedule, the HTTP sender,
//! the loop that sees one notification through, heartbeats and replays.

pub mod heartbeat;
pub mod replay;
pub mod retry;
pub mod sender;
pub mod signing;
pub mod worker;
