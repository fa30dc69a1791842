//! Getting a notification to its destination: signing, the retry schedule, the HTTP sender,
//! and the loop that sees one notification through.

pub mod retry;
pub mod sender;
pub mod signing;
pub mod worker;
