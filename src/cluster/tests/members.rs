//! Members rows: joining, a name already live, heartbeats, leaving.

use std::time::Duration;

use courier_sim::wait::eventually_async;

use super::{fresh, LONG, SHORT};
use crate::cluster::members::{JoinError, Membership};

#[actix_rt::test]
async fn an_instance_joins_beats_and_leaves() {
    let t = fresh("members").await;
    let a = Membership::join(&t.db, "a", LONG, "hash-1", Some("http://127.0.0.1:1"))
        .await
        .unwrap();
    let b = Membership::join(&t.db, "b", LONG, "hash-2", None)
        .await
        .unwrap();
    let before = a.read().await.unwrap();
    assert_eq!(before.len(), 2);
    assert!(before.iter().all(|m| m.live));
    assert_eq!(before[0].admin_url.as_deref(), Some("http://127.0.0.1:1"));
    assert_eq!(before[1].config_hash, "hash-2");
    assert!(a.heartbeat("hash-3").await.unwrap());
    let after = a.read().await.unwrap();
    assert!(after[0].heartbeat_at >= before[0].heartbeat_at);
    assert_eq!(after[0].config_hash, "hash-3", "a reload's hash");
    b.leave().await.unwrap();
    assert_eq!(a.read().await.unwrap().len(), 1);
}

#[actix_rt::test]
async fn a_second_live_instance_of_one_name_is_refused_until_the_first_falls_silent() {
    let t = fresh("names").await;
    let first = Membership::join(&t.db, "a", SHORT, "h", None)
        .await
        .unwrap();
    let refused = Membership::join(&t.db, "a", SHORT, "h", None).await;
    let refused = refused.err().expect("a live name is refused");
    assert!(
        matches!(refused, JoinError::NameTaken { .. }),
        "{refused:?}"
    );
    let message = refused.to_string();
    assert!(
        message.contains("another live instance is registered as \"a\""),
        "{message}"
    );
    let mut second = None;
    eventually_async(
        "the first instance's heartbeat lapses",
        Duration::from_secs(5),
        async || {
            second = Membership::join(&t.db, "a", SHORT, "h", None).await.ok();
            second.is_some()
        },
    )
    .await;
    assert!(
        !first.heartbeat("h").await.unwrap(),
        "the row is the second instance's now"
    );
    assert!(second.unwrap().heartbeat("h").await.unwrap());
}

#[actix_rt::test]
async fn a_silent_member_is_shown_gone() {
    let t = fresh("silent").await;
    let a = Membership::join(&t.db, "a", SHORT, "h", None)
        .await
        .unwrap();
    eventually_async("a's heartbeat lapses", Duration::from_secs(5), async || {
        !a.read().await.unwrap()[0].live
    })
    .await;
}
