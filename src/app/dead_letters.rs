//! Operator actions on dead letters, for the admin API: list, show, retry (back to pending
//! with the same id and sequence, dispatched by the owning connection), purge.
//!
//! Each retry or purge logs one line with the ids and the count. A retry logs at info: it
//! is lifecycle (work resumes, nothing is lost). A purge logs at warn: it deletes
//! notifications that never reached their destination, on purpose, which is not a fault to
//! act on (so not error) but must stand out when someone later asks where one went.

use std::collections::BTreeSet;

use serde::Serialize;

use super::Operations;
use crate::actors::supervisor::RedispatchTo;
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
    /// Connections of retried notifications that are not running: those notifications wait
    /// in the store until the connection starts again.
    pub waiting: Vec<String>,
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
    pub async fn retry_dead_letters(
        &self,
        selection: &DeadLetterSelection,
    ) -> Result<RetryOutcome, StoreError> {
        let moved = self.store.retry_dead_letters(selection).await?;
        let connections: BTreeSet<&String> = moved.iter().map(|l| &l.connection).collect();
        let mut waiting = Vec::new();
        for connection in connections {
            let message = RedispatchTo {
                connection: connection.clone(),
            };
            if !self.supervisor.send(message).await.unwrap_or(false) {
                waiting.push(connection.clone());
            }
        }
        let ids = ids(&moved);
        log::info!(
            "dlq retry by an operator ({}): {} dead letters back to pending{}; {}",
            escaped(describe(selection)),
            moved.len(),
            if waiting.is_empty() {
                String::new()
            } else {
                format!(", waiting for conn={}", waiting.join(","))
            },
            escaped(logged_ids(&ids))
        );
        Ok(RetryOutcome {
            retried: moved.len(),
            ids,
            waiting,
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
}
