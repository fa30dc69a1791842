//! Getting a notification to its destination: signing, the retry schedule, the HTTP sender.

pub mod retry;
pub mod sender;
pub mod signing;
