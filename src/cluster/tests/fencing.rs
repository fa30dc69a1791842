//! The lease statements and the store's fences together: a takeover by the lease SQL refuses
//! the old owner's next commit, and nothing of it is written.

use std::time::Duration;

use courier_sim::postgres::server;
use courier_sim::wait::eventually_some;

use super::{LONG, SHORT};
use crate::cluster::leases::Leases;
use crate::config::{PostgresConfig, Secret};
use crate::store::contract::{commit, item, next_sequence};
use crate::store::postgres::FencePolicy;
use crate::store::{Store, StoreError};

fn config(url: &str) -> PostgresConfig {
    PostgresConfig {
        url: Secret::new(url.to_owned()),
        url_env: "COURIER_TEST_DATABASE_URL".into(),
        pool_size: 4,
        schema: "courier".into(),
        ca_file: None,
    }
}

#[test]
fn a_takeover_refuses_the_old_owners_next_commit_and_writes_nothing_of_it() {
    let database = server().fresh_database("cluster_fencing");
    let (old_store, old) = Store::postgres(&config(&database.url), FencePolicy::Leases).unwrap();
    let (new_store, new) = Store::postgres(&config(&database.url), FencePolicy::Leases).unwrap();
    actix_rt::System::new().block_on(async move {
        let a = Leases::new(old.db().clone(), "a", SHORT);
        let b = Leases::new(new.db().clone(), "b", LONG);
        a.ensure(&["c1".to_owned()]).await.unwrap();
        let taken = a.acquire("c1").await.unwrap().unwrap();
        old.own("c1", taken.fence).await.unwrap();
        commit(&old_store, "c1", &[item("k1", 1)]).await.unwrap();
        let took = eventually_some(
            "a's lease lapses and b takes it",
            Duration::from_secs(5),
            || {
                let b = b.clone();
                async move { b.acquire("c1").await.unwrap() }
            },
        )
        .await;
        new.own("c1", took.fence).await.unwrap();
        // a never heard of it: its fence is still granted here, the database refuses.
        let refused = commit(&old_store, "c1", &[item("k2", 2)]).await;
        assert!(
            matches!(refused, Err(StoreError::Fenced(ref c)) if c == "c1"),
            "{refused:?}"
        );
        assert_eq!(
            next_sequence(&new_store, "c1").await,
            2,
            "nothing of a's was written"
        );
        let written = commit(&new_store, "c1", &[item("k2", 2)]).await.unwrap();
        assert_eq!(written[0].sequence, 2);
    });
}
