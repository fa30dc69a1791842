//! Operator actions on dead letters, for the admin API: list, show, retry (back to pending
//! with the same id and sequence, dispatched by the owning connection), purge. On a
//! PostgreSQL store any instance of the cluster may act on any dead letter: a retry of a
//! connection another instance runs is walked by that instance (the store tells it), and the
//! answer names it.
//!
//! Each retry or purge logs one line with the ids and the count. A retry logs at info: it
//! is lifecycle (work resumes, nothing is lost). A purge logs at warn: it deletes
//! notifications that never reached their destination, on purpose, which is not a fault to
//! act on (so not error) but must stand out when someone later asks where one went.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Operations;
use crate::actors::supervisor::RedispatchTo;
use crate::cluster::ClusterSnapshot;
use crate::escape::escaped;
use crate::model::DeadLetter;
use crate::store::{DeadLetterFilter, DeadLetterPage, DeadLetterSelection, StoreError};

/// Ids named in a log line, at most; the count covers the rest.
const IDS_LOGGED: usize = 10;

/// What a retry did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetryOutcome {
    /// Dead letters sent back to pending.
    pub retried: usize,
    /// Their notification ids.
    pub ids: Vec<String>,
    /// Connections of retried notifications that no instance runs now (removed from the
    /// configuration, or between owners): those notifications wait in the store until one
    /// starts it.
    pub waiting: Vec<String>,
    /// Connections of retried notifications that another instance of the cluster runs, with
    /// that instance: it walks its store again and delivers them. Empty on a sled store.
    pub elsewhere: BTreeMap<String, String>,
}

/// What a purge did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PurgeOutcome {
    /// Dead letters deleted.
    pub purged: usize,
    /// Their notification ids.
    pub ids: Vec<String>,
}

impl Operations {
    /// Up to `limit` dead letters matching `filter`, after the page position `after`.
    pub async fn dead_letter_page(
        &self,
        filter: &DeadLetterFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<DeadLetterPage, StoreError> {
        self.store.dead_letter_page(filter, after, limit).await
    }

    /// The dead letter of notification `id`, with every attempt and its body.
    pub async fn dead_letter(&self, id: &str) -> Result<Option<DeadLetter>, StoreError> {
        self.store.find_dead_letter(id).await
    }

    /// Sends the selected dead letters back to pending with their original id and sequence,
    /// and has each owning connection walk its store again, so they go out in sequence order,
    /// behind earlier containers of their key, once their destination accepts notifications.
    /// `cluster` (the lease keeper's view, on a clustered instance) says which instance runs
    /// a connection that does not run here.
    pub async fn retry_dead_letters(
        &self,
        selection: &DeadLetterSelection,
        cluster: Option<&ClusterSnapshot>,
    ) -> Result<RetryOutcome, StoreError> {
        let moved = self.store.retry_dead_letters(selection).await?;
        let (journal, now) = (self.gates.board().journal(), self.gates.clock().now());
        for letter in &moved {
            journal.retried(&letter.connection, letter.sequence, now);
        }
        let connections: BTreeSet<&String> = moved.iter().map(|l| &l.connection).collect();
        let mut not_here = Vec::new();
        for connection in connections {
            let message = RedispatchTo {
                connection: connection.clone(),
            };
            if !self.supervisor.send(message).await.unwrap_or(false) {
                not_here.push(connection.clone());
            }
        }
        let (waiting, elsewhere) = placed(not_here, cluster, self.gates.clock().now());
        let ids = ids(&moved);
        log::info!(
            "dlq retry by an operator ({}): {} dead letters back to pending{}; {}",
            escaped(describe(selection)),
            moved.len(),
            escaped(where_they_go(&waiting, &elsewhere)),
            escaped(logged_ids(&ids))
        );
        Ok(RetryOutcome {
            retried: moved.len(),
            ids,
            waiting,
            elsewhere,
        })
    }

    /// Deletes the selected dead letters for good.
    pub async fn purge_dead_letters(
        &self,
        selection: &DeadLetterSelection,
    ) -> Result<PurgeOutcome, StoreError> {
        let purged = self.store.purge_dead_letters(selection).await?;
        let ids = ids(&purged);
        log::warn!(
            "dlq purge by an operator ({}): {} dead letters deleted, never delivered; {}",
            escaped(describe(selection)),
            purged.len(),
            escaped(logged_ids(&ids))
        );
        Ok(PurgeOutcome {
            purged: purged.len(),
            ids,
        })
    }
}

/// Splits the connections that do not run here into those no instance runs (`waiting`) and
/// those another instance holds an unexpired lease on at `now` (connection → instance).
fn placed(
    not_here: Vec<String>,
    cluster: Option<&ClusterSnapshot>,
    now: DateTime<Utc>,
) -> (Vec<String>, BTreeMap<String, String>) {
    let mut elsewhere = BTreeMap::new();
    let Some(cluster) = cluster else {
        return (not_here, elsewhere);
    };
    let owner = |connection: &str| {
        let lease = cluster.leases.iter().find(|l| l.connection == connection)?;
        let owner = lease.owner.as_ref()?;
        (*owner != cluster.instance && lease.expires_at > now).then(|| owner.clone())
    };
    let mut waiting = Vec::new();
    for connection in not_here {
        match owner(&connection) {
            Some(instance) => {
                elsewhere.insert(connection, instance);
            }
            None => waiting.push(connection),
        }
    }
    (waiting, elsewhere)
}

/// `, waiting for conn=a,b` and `, conn=c on node-2` for a log line, or nothing.
fn where_they_go(waiting: &[String], elsewhere: &BTreeMap<String, String>) -> String {
    let mut text = String::new();
    if !waiting.is_empty() {
        text.push_str(&format!(", waiting for conn={}", waiting.join(",")));
    }
    for (connection, instance) in elsewhere {
        text.push_str(&format!(", conn={connection} on {instance}"));
    }
    text
}

fn ids(letters: &[DeadLetter]) -> Vec<String> {
    letters.iter().map(|l| l.notification_id.clone()).collect()
}

/// `notif=a,b,c` with at most [`IDS_LOGGED`] ids, then how many more.
fn logged_ids(ids: &[String]) -> String {
    let shown = ids[..ids.len().min(IDS_LOGGED)].join(",");
    match ids.len().saturating_sub(IDS_LOGGED) {
        0 => format!("notif={shown}"),
        more => format!("notif={shown} and {more} more"),
    }
}

/// The selection as a log line says it: `notif=…`, `dest=… conn=…`, or `all`.
fn describe(selection: &DeadLetterSelection) -> String {
    match selection {
        DeadLetterSelection::Id(id) => format!("notif={id}"),
        DeadLetterSelection::Matching(filter) if filter.is_empty() => "all".into(),
        DeadLetterSelection::Matching(filter) => {
            let dest = filter.destination.as_ref().map(|d| format!("dest={d}"));
            let conn = filter.connection.as_ref().map(|c| format!("conn={c}"));
            [dest, conn]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_name_the_selection_and_at_most_ten_ids() {
        let ids: Vec<String> = (1..=12).map(|i| format!("msg_{i}")).collect();
        assert_eq!(logged_ids(&ids[..2]), "notif=msg_1,msg_2");
        assert!(logged_ids(&ids).ends_with("msg_10 and 2 more"));
        let filter = DeadLetterFilter {
            destination: Some("app".into()),
            connection: Some("clinic-a".into()),
        };
        assert_eq!(
            describe(&DeadLetterSelection::Matching(filter)),
            "dest=app conn=clinic-a"
        );
        let every = DeadLetterSelection::Matching(DeadLetterFilter::default());
        assert_eq!(describe(&every), "all");
    }

    #[test]
    fn a_connection_another_instance_runs_is_named_with_it_not_left_waiting() {
        use crate::cluster::LeaseView;
        let now = Utc::now();
        let lease = |connection: &str, owner: Option<&str>, secs: i64| LeaseView {
            connection: connection.into(),
            owner: owner.map(Into::into),
            epoch: 1,
            expires_at: now + chrono::Duration::seconds(secs),
        };
        let cluster = ClusterSnapshot {
            instance: "node-1".into(),
            leases: vec![
                lease("clinic-a", Some("node-2"), 5),
                lease("clinic-b", None, 5),
                lease("clinic-c", Some("node-3"), -1),
            ],
            ..ClusterSnapshot::default()
        };
        let not_here: Vec<String> = ["clinic-a", "clinic-b", "clinic-c", "removed"]
            .map(String::from)
            .into();
        let (waiting, elsewhere) = placed(not_here.clone(), Some(&cluster), now);
        assert_eq!(waiting, ["clinic-b", "clinic-c", "removed"]);
        assert_eq!(
            elsewhere,
            BTreeMap::from([("clinic-a".to_owned(), "node-2".to_owned())])
        );
        assert_eq!(
            where_they_go(&waiting[..1], &elsewhere),
            ", waiting for conn=clinic-b, conn=clinic-a on node-2"
        );
        let (sled, none) = placed(not_here.clone(), None, now);
        assert_eq!((sled, none.len()), (not_here, 0));
    }
}
