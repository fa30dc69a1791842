//! Lease rows: taken, renewed, lapsed and taken over, handed back, raced for.

use std::time::Duration;

use courier_sim::wait::{eventually_async, eventually_some};
use futures_util::future::join_all;

use super::{fresh, LONG, SHORT};
use crate::cluster::leases::Leases;

fn names(connections: &[&str]) -> Vec<String> {
    connections.iter().map(|c| c.to_string()).collect()
}

#[actix_rt::test]
async fn a_free_lease_is_taken_once_and_renewed_by_its_owner_only() {
    let t = fresh("take").await;
    let (a, b) = (
        Leases::new(t.db.clone(), "a", LONG),
        Leases::new(t.db.clone(), "b", LONG),
    );
    a.ensure(&names(&["c1", "c2"])).await.unwrap();
    // A second ensure (another instance starting) leaves the rows as they are.
    let taken = a
        .acquire("c1")
        .await
        .unwrap()
        .expect("a free lease is taken");
    b.ensure(&names(&["c1", "c2"])).await.unwrap();
    assert_eq!(
        (&*taken.fence.owner, taken.fence.epoch, taken.from),
        ("a", 1, None)
    );
    assert_eq!(
        b.acquire("c1").await.unwrap(),
        None,
        "a held lease is not taken"
    );
    let renewed = a.renew(&[("c1".into(), 1)]).await.unwrap();
    assert_eq!(renewed.len(), 1);
    assert!(b.renew(&[("c1".into(), 1)]).await.unwrap().is_empty());
    assert!(
        a.renew(&[("c1".into(), 2)]).await.unwrap().is_empty(),
        "another epoch"
    );
    let rows = a.read().await.unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!((rows[0].holder(), rows[0].epoch), (Some("a"), 1));
    assert_eq!((rows[1].holder(), rows[1].epoch), (None, 0));
}

#[actix_rt::test]
async fn a_lapsed_lease_is_taken_over_with_a_new_epoch_and_lost_by_its_old_owner() {
    let t = fresh("lapse").await;
    let (a, b) = (
        Leases::new(t.db.clone(), "a", SHORT),
        Leases::new(t.db.clone(), "b", LONG),
    );
    a.ensure(&names(&["c1"])).await.unwrap();
    assert_eq!(a.acquire("c1").await.unwrap().unwrap().fence.epoch, 1);
    let taken = eventually_some(
        "a's lease lapses and b takes it",
        Duration::from_secs(5),
        || {
            let b = b.clone();
            async move { b.acquire("c1").await.unwrap() }
        },
    )
    .await;
    assert_eq!(taken.fence.epoch, 2);
    assert_eq!(taken.from.as_deref(), Some("a"));
    assert!(
        a.renew(&[("c1".into(), 1)]).await.unwrap().is_empty(),
        "a lost it"
    );
    assert_eq!(a.read().await.unwrap()[0].holder(), Some("b"));
}

#[actix_rt::test]
async fn a_lease_handed_back_is_free_at_once() {
    let t = fresh("release").await;
    let (a, b) = (
        Leases::new(t.db.clone(), "a", LONG),
        Leases::new(t.db.clone(), "b", LONG),
    );
    a.ensure(&names(&["c1"])).await.unwrap();
    a.acquire("c1").await.unwrap().unwrap();
    assert_eq!(
        b.release(&[("c1".into(), 1)]).await.unwrap(),
        0,
        "not b's to give"
    );
    assert_eq!(a.release(&[("c1".into(), 1)]).await.unwrap(), 1);
    assert_eq!(a.read().await.unwrap()[0].owner, None);
    let taken = b.acquire("c1").await.unwrap().expect("free at once");
    assert_eq!((taken.fence.epoch, taken.from), (2, None));
}

#[actix_rt::test]
async fn of_instances_racing_for_one_lease_exactly_one_wins() {
    let t = fresh("race").await;
    let racers: Vec<Leases> = (0..8)
        .map(|i| Leases::new(t.db.clone(), &format!("i{i}"), LONG))
        .collect();
    racers[0].ensure(&names(&["c1"])).await.unwrap();
    let outcomes = join_all(racers.iter().map(|r| r.acquire("c1"))).await;
    let winners: Vec<_> = outcomes.into_iter().flatten().flatten().collect();
    assert_eq!(winners.len(), 1, "{winners:?}");
    assert_eq!(winners[0].fence.epoch, 1);
    let row = &racers[0].read().await.unwrap()[0];
    assert_eq!(row.holder(), Some(&*winners[0].fence.owner));
}

#[actix_rt::test]
async fn a_dead_letter_retry_anywhere_shows_in_the_owners_renewal() {
    let t = fresh("redispatch").await;
    let a = Leases::new(t.db.clone(), "a", LONG);
    a.ensure(&names(&["c1"])).await.unwrap();
    a.acquire("c1").await.unwrap().unwrap();
    t.db.run(|pool| async move {
        let client = pool.get().await.unwrap();
        let bump = "UPDATE leases SET redispatch = redispatch + 1 WHERE connection = 'c1'";
        client.execute(bump, &[]).await.unwrap();
        Ok(())
    })
    .await
    .unwrap();
    let renewed = a.renew(&[("c1".into(), 1)]).await.unwrap();
    assert_eq!(renewed[0].redispatch, 1);
}

#[actix_rt::test]
async fn a_lapsed_lease_is_not_taken_while_a_write_of_it_is_under_way() {
    let t = fresh("inflight").await;
    let (a, b) = (
        Leases::new(t.db.clone(), "a", SHORT),
        Leases::new(t.db.clone(), "b", SHORT),
    );
    a.ensure(&names(&["c1"])).await.unwrap();
    a.acquire("c1").await.unwrap().unwrap();
    // a's write: the fencing check's lock, held until its transaction ends.
    let (hold, release) = tokio::sync::oneshot::channel::<()>();
    let (held, is_held) = tokio::sync::oneshot::channel::<()>();
    let db = t.db.clone();
    let write = actix_rt::spawn(async move {
        db.run(move |pool| async move {
            let mut client = pool.get().await.unwrap();
            let tx = client.transaction().await.unwrap();
            let lock = "SELECT 1 FROM leases WHERE connection = 'c1' FOR SHARE";
            tx.execute(lock, &[]).await.unwrap();
            held.send(()).unwrap();
            release.await.unwrap();
            tx.commit().await.unwrap();
            Ok(())
        })
        .await
    });
    is_held.await.unwrap();
    eventually_async("a's lease lapses", Duration::from_secs(5), async || {
        a.read().await.unwrap()[0].expired
    })
    .await;
    assert_eq!(
        b.acquire("c1").await.unwrap(),
        None,
        "the write holds the row"
    );
    hold.send(()).unwrap();
    write.await.unwrap().unwrap();
    let taken = b
        .acquire("c1")
        .await
        .unwrap()
        .expect("taken once the write ended");
    assert_eq!((taken.fence.epoch, taken.from.as_deref()), (2, Some("a")));
}
