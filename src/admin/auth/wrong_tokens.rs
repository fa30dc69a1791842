//! Wrong admin tokens, counted per peer address, so the token cannot be guessed at the speed
//! of the network: after [`LIMIT`] wrong tokens within [`WINDOW`], every token the address
//! sends (a bearer header or the sign-in form, right or wrong) is refused until that window
//! ends. A throttled address's right token waits too, so the answer to a guess never tells
//! whether it was right. Sessions already signed in are not touched.
//!
//! Memory is bounded: at most [`PEERS_AT_MOST`] addresses are tracked; when full, ended
//! windows are dropped, and a new address that still finds no room goes uncounted.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::same_token;
use crate::clock::Clock;

/// Wrong tokens an address may send within one [`WINDOW`].
pub const LIMIT: u32 = 10;
/// How long an address's count lasts from its first wrong token, and so the longest wait.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Addresses tracked at most: about 80 bytes each, so under 1 MB.
pub const PEERS_AT_MOST: usize = 10_000;

/// What a token check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    /// The token is the admin token.
    Right,
    /// It is not (and was counted).
    Wrong,
    /// The address sent too many wrong tokens: this one was not compared. Try again after
    /// the duration.
    Throttled(Duration),
}

/// The wrong-token counts of the admin listener; shared by its workers through `AdminState`.
#[derive(Debug)]
pub struct WrongTokens {
    clock: Clock,
    peers: Mutex<HashMap<String, Window>>,
}

/// One address's wrong tokens since `started`.
#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    wrong: u32,
}

impl WrongTokens {
    /// Counts on `clock`, which tests move by hand.
    pub fn new(clock: Clock) -> Self {
        Self {
            clock,
            peers: Mutex::default(),
        }
    }

    /// Compares `sent` with `expected` (in constant time) for a request from `peer`, unless
    /// `peer` is throttled; a wrong token is counted, and the one that reaches the limit is
    /// logged (with the address, never a token).
    pub fn check(&self, peer: &str, sent: &[u8], expected: &[u8]) -> Checked {
        let now = self.clock.instant();
        let mut peers = self.peers.lock().unwrap_or_else(PoisonError::into_inner);
        let live = |w: &Window| now.saturating_duration_since(w.started) < WINDOW;
        if let Some(window) = peers.get(peer).filter(|w| live(w) && w.wrong >= LIMIT) {
            return Checked::Throttled(WINDOW.saturating_sub(now - window.started));
        }
        if same_token(sent, expected) {
            return Checked::Right;
        }
        if !peers.contains_key(peer) && peers.len() >= PEERS_AT_MOST {
            peers.retain(|_, w| live(w));
            if peers.len() >= PEERS_AT_MOST {
                return Checked::Wrong;
            }
        }
        let fresh = Window {
            started: now,
            wrong: 0,
        };
        let window = peers.entry(peer.to_owned()).or_insert(fresh);
        if !live(window) {
            *window = fresh;
        }
        window.wrong += 1;
        if window.wrong == LIMIT {
            log::warn!(
                "admin token: {LIMIT} wrong tokens from {peer} within {} s; its tokens are \
                 refused until {} s after the first",
                WINDOW.as_secs(),
                WINDOW.as_secs()
            );
        }
        Checked::Wrong
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;
    use crate::clock::ManualClock;

    const TOKEN: &[u8] = b"the-admin-token";

    fn stopped() -> ManualClock {
        let start: DateTime<Utc> = "2026-01-01T08:00:00Z".parse().unwrap();
        ManualClock::stopped_at(start)
    }

    #[test]
    fn the_right_token_passes_and_a_wrong_one_is_counted_until_the_limit() {
        let manual = stopped();
        let tokens = WrongTokens::new(manual.clock());
        assert_eq!(tokens.check("10.0.0.1", TOKEN, TOKEN), Checked::Right);
        for _ in 0..LIMIT {
            assert_eq!(tokens.check("10.0.0.1", b"guess", TOKEN), Checked::Wrong);
        }
        manual.advance(Duration::from_secs(15));
        assert_eq!(
            tokens.check("10.0.0.1", TOKEN, TOKEN),
            Checked::Throttled(Duration::from_secs(45)),
            "even the right token waits, so a guess cannot be told right by its answer"
        );
        assert_eq!(
            tokens.check("10.0.0.2", TOKEN, TOKEN),
            Checked::Right,
            "another address is not affected"
        );
        manual.advance(Duration::from_secs(45));
        assert_eq!(tokens.check("10.0.0.1", TOKEN, TOKEN), Checked::Right);
        assert_eq!(
            tokens.check("10.0.0.1", b"guess", TOKEN),
            Checked::Wrong,
            "a new window starts with a new count"
        );
    }

    #[test]
    fn wrong_tokens_spread_over_windows_are_never_throttled() {
        let manual = stopped();
        let tokens = WrongTokens::new(manual.clock());
        for _ in 0..5 {
            for _ in 0..LIMIT - 1 {
                assert_eq!(tokens.check("10.0.0.1", b"typo", TOKEN), Checked::Wrong);
            }
            manual.advance(WINDOW);
        }
    }

    #[test]
    fn the_addresses_tracked_are_bounded_and_ended_windows_make_room() {
        let manual = stopped();
        let tokens = WrongTokens::new(manual.clock());
        for n in 0..PEERS_AT_MOST {
            tokens.check(&format!("peer-{n}"), b"guess", TOKEN);
        }
        let extra = "peer-extra";
        for _ in 0..LIMIT + 1 {
            assert_eq!(tokens.check(extra, b"guess", TOKEN), Checked::Wrong);
        }
        assert_eq!(tokens.peers.lock().unwrap().len(), PEERS_AT_MOST);
        manual.advance(WINDOW);
        for _ in 0..LIMIT {
            tokens.check(extra, b"guess", TOKEN);
        }
        assert_eq!(
            tokens.peers.lock().unwrap().len(),
            1,
            "ended windows dropped"
        );
        assert!(matches!(
            tokens.check(extra, TOKEN, TOKEN),
            Checked::Throttled(_)
        ));
    }
}
