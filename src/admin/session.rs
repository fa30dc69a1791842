//! The console's sign-in sessions: held in memory only (a restart signs everyone out, and no
//! session id ever reaches the store or a log), each living 12 hours, at most
//! [`MAX_SESSIONS`] at once so a loop of sign-ins cannot grow memory.
//!
//! Invariants: `live` and `order` always name the same sessions; `order` lists them oldest
//! first (a sign-in's sequence number only grows, and every session lives as long), so the
//! expired ones and the one to drop when full are always at its front. A session is found by
//! the SHA-256 of its id, so the ids themselves are never kept and a lookup does not compare
//! the secret byte by byte.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::digest::{digest, SHA256};
use ring::rand::{SecureRandom, SystemRandom};

use crate::clock::Clock;

/// How long a sign-in lasts: a working day, after which the console asks for the token again.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// Live sessions at most; signing in beyond drops the oldest. About 200 bytes each, so 2 MB
/// at most, and far more than the operators of one service.
pub const MAX_SESSIONS: usize = 10_000;

/// Random bytes in a session id and a CSRF token: 256 bits, beyond guessing.
const TOKEN_BYTES: usize = 32;

/// The console's sessions and the CSRF token of requests without one; shared by the admin
/// server's workers through `AdminState`.
pub struct Sessions {
    clock: Clock,
    random: SystemRandom,
    lifetime: Duration,
    max: usize,
    /// The CSRF token of requests without a session (loopback without a token), random per
    /// process so a page elsewhere cannot know it.
    loopback_csrf: String,
    live: Mutex<Live>,
}

/// The sessions, by the hash of their id and in the order they were created.
#[derive(Default)]
struct Live {
    by_key: HashMap<Key, Session>,
    /// Sequence number of the sign-in → its key; the oldest first.
    order: BTreeMap<u64, Key>,
    next_seq: u64,
}

/// The SHA-256 of a session id.
type Key = [u8; 32];

struct Session {
    name: String,
    csrf: String,
    seq: u64,
    expires: Instant,
}

/// A live session as the auth middleware hands it to handlers (in the request's extensions):
/// its id (to sign out), the name given at sign-in, and its CSRF token. Its `Debug` hides the
/// id and the token, so it can never print them into a log.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedIn {
    /// The session id the cookie carries.
    pub id: String,
    /// The name given at sign-in, for the audit log.
    pub name: String,
    /// The token every unsafe request of this session must send as `X-Courier-CSRF`.
    pub csrf: String,
}

impl fmt::Debug for SignedIn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedIn")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The operating system gave no random bytes: no session can be made safely.
#[derive(Debug, thiserror::Error)]
#[error("the system's random source failed")]
pub struct NoRandomness;

impl Sessions {
    /// Sessions of [`SESSION_LIFETIME`], at most [`MAX_SESSIONS`], timed by `clock`.
    ///
    /// # Panics
    /// When the operating system has no random source, as nothing of the admin API's security
    /// would then hold.
    pub fn new(clock: Clock) -> Self {
        Self::with_limits(clock, SESSION_LIFETIME, MAX_SESSIONS)
    }

    /// Sessions living `lifetime`, at most `max` of them: for tests of expiry and the limit.
    pub fn with_limits(clock: Clock, lifetime: Duration, max: usize) -> Self {
        let random = SystemRandom::new();
        let loopback_csrf = random_token(&random).expect("the system's random source");
        Self {
            clock,
            random,
            lifetime,
            max: max.max(1),
            loopback_csrf,
            live: Mutex::new(Live::default()),
        }
    }

    /// How long a session lives (the cookie's `Max-Age`).
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// Signs `name` in: a new session with a fresh id and CSRF token. Expired sessions are
    /// swept first; when still full, the oldest is dropped.
    pub fn create(&self, name: &str) -> Result<SignedIn, NoRandomness> {
        let id = random_token(&self.random)?;
        let csrf = random_token(&self.random)?;
        let now = self.clock.instant();
        let mut live = self.lock();
        live.sweep(now);
        while live.by_key.len() >= self.max {
            live.drop_oldest();
        }
        let seq = live.next_seq;
        live.next_seq += 1;
        let key = key_of(&id);
        live.order.insert(seq, key);
        let session = Session {
            name: name.to_owned(),
            csrf: csrf.clone(),
            seq,
            expires: now + self.lifetime,
        };
        live.by_key.insert(key, session);
        Ok(SignedIn {
            id,
            name: name.to_owned(),
            csrf,
        })
    }

    /// The live session `id` names, or `None` (unknown, signed out, expired or dropped).
    /// Expired sessions are swept on the way.
    pub fn find(&self, id: &str) -> Option<SignedIn> {
        let mut live = self.lock();
        live.sweep(self.clock.instant());
        let session = live.by_key.get(&key_of(id))?;
        Some(SignedIn {
            id: id.to_owned(),
            name: session.name.clone(),
            csrf: session.csrf.clone(),
        })
    }

    /// Forgets session `id` (signing out); nothing when it is not live.
    pub fn end(&self, id: &str) {
        let mut live = self.lock();
        if let Some(session) = live.by_key.remove(&key_of(id)) {
            live.order.remove(&session.seq);
        }
    }

    /// How many sessions are held (expired ones not swept yet included).
    pub fn len(&self) -> usize {
        self.lock().by_key.len()
    }

    /// Whether no session is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The CSRF token expected from requests without a session.
    pub fn loopback_csrf(&self) -> &str {
        &self.loopback_csrf
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Live> {
        // The maps stay consistent at every await-free step, so a panic elsewhere while
        // holding the lock leaves nothing half-done.
        self.live
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Live {
    /// Removes the expired sessions: all at the front of `order`.
    fn sweep(&mut self, now: Instant) {
        while let Some((_, key)) = self.order.first_key_value() {
            let expired = self.by_key.get(key).is_none_or(|s| s.expires <= now);
            if !expired {
                return;
            }
            self.drop_oldest();
        }
    }

    fn drop_oldest(&mut self) {
        if let Some((_, key)) = self.order.pop_first() {
            self.by_key.remove(&key);
        }
    }
}

/// 256 random bits, base64url without padding (43 characters): a cookie- and header-safe
/// text.
fn random_token(random: &SystemRandom) -> Result<String, NoRandomness> {
    let mut bytes = [0u8; TOKEN_BYTES];
    random.fill(&mut bytes).map_err(|_| NoRandomness)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

fn key_of(id: &str) -> Key {
    let mut key = [0u8; 32];
    key.copy_from_slice(digest(&SHA256, id.as_bytes()).as_ref());
    key
}

#[cfg(test)]
mod tests;
