//! Sessions on a clock the test moves: expiry, the limit, signing out, and tokens that never
//! repeat.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Sessions, MAX_SESSIONS, SESSION_LIFETIME};
use crate::clock::ManualClock;

fn stopped() -> ManualClock {
    let start: DateTime<Utc> = "2026-01-01T08:00:00Z".parse().unwrap();
    ManualClock::stopped_at(start)
}

#[test]
fn a_session_is_found_by_its_id_with_its_name_and_csrf_token() {
    let sessions = Sessions::new(stopped().clock());
    let made = sessions.create("Ada Lovelace").unwrap();
    let found = sessions.find(&made.id).expect("a live session");
    assert_eq!(found, made);
    assert_eq!(found.name, "Ada Lovelace");
    assert_eq!(made.id.len(), 43, "256 bits in base64url without padding");
    assert!(made
        .id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    assert_ne!(made.csrf, made.id);
    assert_ne!(made.csrf, sessions.loopback_csrf());
    assert!(sessions.find("not-a-session").is_none());
}

#[test]
fn a_session_expires_after_twelve_hours_and_is_swept_on_the_next_use() {
    let manual = stopped();
    let sessions = Sessions::new(manual.clock());
    let made = sessions.create("ops").unwrap();
    manual.advance(SESSION_LIFETIME - Duration::from_secs(1));
    assert!(sessions.find(&made.id).is_some(), "alive one second before");
    manual.advance(Duration::from_secs(1));
    assert!(sessions.find(&made.id).is_none(), "gone at twelve hours");
    assert!(sessions.is_empty(), "the expired session was swept");
}

#[test]
fn signing_in_beyond_the_limit_drops_the_oldest_session() {
    let manual = stopped();
    let sessions = Sessions::with_limits(manual.clock(), SESSION_LIFETIME, 3);
    let made: Vec<_> = (0..5)
        .map(|i| sessions.create(&format!("user {i}")).unwrap())
        .collect();
    assert_eq!(sessions.len(), 3);
    assert!(sessions.find(&made[0].id).is_none());
    assert!(sessions.find(&made[1].id).is_none());
    for newer in &made[2..] {
        assert!(sessions.find(&newer.id).is_some(), "{}", newer.name);
    }
}

#[test]
fn a_sign_in_loop_never_holds_more_than_the_limit() {
    let sessions = Sessions::new(stopped().clock());
    for _ in 0..MAX_SESSIONS + 500 {
        sessions.create("loop").unwrap();
    }
    assert_eq!(sessions.len(), MAX_SESSIONS);
}

#[test]
fn signing_out_forgets_only_that_session_and_frees_its_place() {
    let manual = stopped();
    let sessions = Sessions::with_limits(manual.clock(), SESSION_LIFETIME, 2);
    let first = sessions.create("first").unwrap();
    let second = sessions.create("second").unwrap();
    sessions.end(&second.id);
    sessions.end(&second.id);
    assert!(sessions.find(&second.id).is_none());
    let third = sessions.create("third").unwrap();
    assert!(sessions.find(&first.id).is_some(), "its place was free");
    assert!(sessions.find(&third.id).is_some());
}

#[test]
fn expired_sessions_make_room_before_a_live_one_is_dropped() {
    let manual = stopped();
    let sessions = Sessions::with_limits(manual.clock(), Duration::from_secs(60), 2);
    sessions.create("early").unwrap();
    manual.advance(Duration::from_secs(30));
    let middle = sessions.create("middle").unwrap();
    manual.advance(Duration::from_secs(31));
    let late = sessions.create("late").unwrap();
    assert!(
        sessions.find(&middle.id).is_some(),
        "only the expired one went"
    );
    assert!(sessions.find(&late.id).is_some());
}

#[test]
fn ids_and_tokens_never_repeat() {
    let sessions = Sessions::new(stopped().clock());
    let mut seen = HashSet::new();
    for _ in 0..1000 {
        let made = sessions.create("x").unwrap();
        assert!(seen.insert(made.id));
        assert!(seen.insert(made.csrf));
    }
}

#[test]
fn a_session_never_prints_its_id_or_token() {
    let sessions = Sessions::new(stopped().clock());
    let made = sessions.create("Grace").unwrap();
    let printed = format!("{made:?}");
    assert!(printed.contains("Grace"));
    assert!(!printed.contains(&made.id));
    assert!(!printed.contains(&made.csrf));
}
