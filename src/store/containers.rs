//! The containers a page becomes, numbered from the connection's next sequence: built the
//! same way by every backend, so the same page gets the same ids and sequences whichever
//! stores it.

use chrono::{DateTime, Utc};

use crate::model::{notification_id, ChangeItem, Container, FhirContext};
use crate::model::{FhirChange, RecordChange};

/// One container per changes-feed item, of the item's event type, numbered from `first`.
pub fn of_items(
    connection: &str,
    first: u64,
    items: &[ChangeItem],
    now: DateTime<Utc>,
) -> Vec<Container> {
    items
        .iter()
        .zip(first..)
        .map(|(item, sequence)| Container {
            connection: connection.to_owned(),
            sequence,
            key: item.key.clone(),
            version: item.version.clone(),
            notification_id: notification_id(connection, &item.key, &item.version),
            event_type: item.event_type.clone(),
            detected_at: now,
            change: item.raw.clone(),
            fhir: None,
            changed_elements: None,
            backfill: false,
        })
        .collect()
}

/// One container per FHIR change, numbered from `first`: a record change whose FHIR context
/// carries the focus, what changed and the included resources.
pub fn of_fhir_changes(
    connection: &str,
    first: u64,
    changes: Vec<FhirChange>,
    now: DateTime<Utc>,
) -> Vec<Container> {
    let changes = changes
        .into_iter()
        .map(|change| RecordChange {
            key: change.focus.clone(),
            version: change.version,
            event_type: change.event_type,
            change: change.resource,
            changed_elements: None,
            fhir: Some(FhirContext {
                focus: change.focus,
                changed_elements: change.changed_elements,
                included: change.included,
            }),
            backfill: false,
        })
        .collect();
    of_record_changes(connection, first, changes, now)
}

/// One container per record change, numbered from `first`.
pub fn of_record_changes(
    connection: &str,
    first: u64,
    changes: Vec<RecordChange>,
    now: DateTime<Utc>,
) -> Vec<Container> {
    changes
        .into_iter()
        .zip(first..)
        .map(|(change, sequence)| Container {
            connection: connection.to_owned(),
            sequence,
            notification_id: notification_id(connection, &change.key, &change.version),
            key: change.key,
            version: change.version,
            event_type: change.event_type,
            detected_at: now,
            change: change.change,
            fhir: change.fhir,
            changed_elements: change.changed_elements,
            backfill: change.backfill,
        })
        .collect()
}
