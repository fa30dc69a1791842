//! One poll: read where the source stands from the store, ask the source for the page after
//! it, and commit the page (its containers, the sequence numbers they take, the new position,
//! and for FHIR the versions seen) in one transaction, flushed before the next page is read.
//! A page that changed nothing writes nothing; a poll that fails writes nothing either, so
//! the cursor only ever advances together with the containers of what it moved past.

use std::collections::HashMap;

use super::{PageResult, PollError};
use crate::config::Initial;
use crate::config::{ChangesSource, ConnectionConfig};
use crate::ehr::changes::read_page;
use crate::ehr::fhir::{FhirPage, FhirPoller, StoredCursors, Versions};
use crate::ehr::{EhrClient, Source};
use crate::model::{RecordCommit, Recorded, Seen, Track};
use crate::store::{ConnectionState, Store, StoreError};

/// Reads and commits one page of `source`. `page_size` is the changes feed's (possibly
/// widened) page size; `warn` hears the source's lasting conditions that do not stop polling
/// after every poll, failed or not (each call replacing the last).
pub async fn poll_page(
    source: &Source,
    client: &EhrClient,
    config: &ConnectionConfig,
    store: &Store,
    page_size: Option<usize>,
    warn: &dyn Fn(&[String]),
) -> Result<PageResult, PollError> {
    match source {
        Source::Changes(feed) => poll_changes(client, config, feed, store, page_size).await,
        Source::Fhir(poller) => {
            let polled = poll_fhir(poller, client, config, store).await;
            warn(&poller.warnings());
            polled
        }
        Source::ConsumeOnce(reader) => {
            super::consume::poll_consume(reader, client, config, store, page_size).await
        }
        Source::Snapshot(reader) => {
            let ctx = super::snapshot::Ctx {
                config,
                client,
                store,
            };
            let polled = super::snapshot::poll_reader(reader, &ctx).await;
            warn(&reader.state.warnings());
            polled
        }
    }
}

/// Reads one page of `feed` after the stored cursor (asking for `page_size` items) and
/// commits its new items and the new cursor in one transaction.
async fn poll_changes(
    client: &EhrClient,
    config: &ConnectionConfig,
    feed: &ChangesSource,
    store: &Store,
    page_size: Option<usize>,
) -> Result<PageResult, PollError> {
    let state = store
        .connection_state(&config.id, &feed.initial_cursor)
        .await?;
    if feed.initial == Initial::Baseline && !baseline_done(store, &config.id).await? {
        return skip_backlog(client, config, feed, store, (state, page_size)).await;
    }
    let page = read_page(client, feed, &state.cursor, page_size).await?;
    let containers = match page.changed {
        false => Vec::new(),
        true => {
            let (items, cursor) = (&page.fresh, page.cursor.clone());
            let now = client.clock().now();
            store
                .commit_page(&config.id, &state, items, cursor, now)
                .await?
        }
    };
    Ok(PageResult {
        created: containers.len(),
        containers,
        returned: page.returned,
        requested: page_size,
        cursor: page.cursor.value,
        cursor_moved: page.moved,
        behind: page.behind,
        more: false,
    })
}

/// The scope of a changes feed's baseline marker: present once its backlog was skipped.
const BASELINE_SCOPE: &str = "baseline";

/// Whether the connection's backlog was skipped already (`initial = "baseline"`).
async fn baseline_done(store: &Store, connection: &str) -> Result<bool, StoreError> {
    let marker = [String::new()];
    let found = store.records(connection, BASELINE_SCOPE, &marker).await?;
    Ok(found.into_iter().next().flatten().is_some())
}

/// Reads one page of the feed's backlog and moves the cursor past it without notifying it;
/// the page that is not full (the end of the backlog) also leaves the baseline's marker, in
/// the same commit, so a restart mid-backlog goes on skipping and one after it notifies.
async fn skip_backlog(
    client: &EhrClient,
    config: &ConnectionConfig,
    feed: &ChangesSource,
    store: &Store,
    (state, page_size): (ConnectionState, Option<usize>),
) -> Result<PageResult, PollError> {
    let page = read_page(client, feed, &state.cursor, page_size).await?;
    let full = page_size.is_some_and(|size| page.returned >= size);
    // A full page that did not move the cursor is widened by the poll loop (`is_stuck`).
    let end = !full;
    let marker = Recorded {
        fingerprint: None,
        revision: 1,
        date: Some(client.clock().now().timestamp()),
    };
    let commit = RecordCommit {
        scope: BASELINE_SCOPE.to_owned(),
        changes: Vec::new(),
        records: end
            .then(|| (String::new(), Some(marker)))
            .into_iter()
            .collect(),
        cursor: Some(page.cursor.clone()),
    };
    if page.changed || end {
        let now = client.clock().now();
        store
            .commit_records(&config.id, &state, commit, now)
            .await?;
    }
    if end {
        log::info!(
            "conn={} initial = baseline: the feed's backlog was skipped, changes are notified \
             from cursor {} on",
            config.id,
            page.cursor.value
        );
    }
    Ok(PageResult {
        created: 0,
        containers: Vec::new(),
        returned: page.returned,
        requested: page_size,
        cursor: page.cursor.value,
        cursor_moved: page.moved,
        behind: page.behind,
        more: !end,
    })
}

/// Reads one page of the FHIR source's next read from its type's stored cursors, sorts its
/// versions against those the connection took before, and commits its changes, the versions
/// seen and the type's cursor in one transaction. The poller's round moves on only once the
/// page is durable.
async fn poll_fhir(
    poller: &FhirPoller,
    client: &EhrClient,
    config: &ConnectionConfig,
    store: &Store,
) -> Result<PageResult, PollError> {
    let id = &config.id;
    let next = poller.next_read();
    if let Some(window) = poller.window(config, &next) {
        let window = (&window.0, window.1);
        return super::fhir_window::poll_window(poller, &next, window, client, config, store).await;
    }
    let stored = StoredCursors {
        search: store
            .fhir_cursor(id, &next.type_name, Track::Search)
            .await?,
        deletes: match next.track {
            Track::Deletes => {
                store
                    .fhir_cursor(id, &next.type_name, Track::Deletes)
                    .await?
            }
            Track::Search => None,
        },
    };
    let FhirPage { read, versions } = poller.read(client, config, next, stored).await?;
    let before = seen_before(store, id, &read.type_name, &versions).await?;
    let taken = versions.take(&read.type_name, &before);
    if read.track == Track::Search {
        log::debug!(
            "conn={id} {}: {} changes, {} repeats, {} no-op updates",
            read.type_name,
            taken.changes.len(),
            taken.repeats,
            taken.no_ops
        );
    }
    let containers = match read.commit(taken) {
        None => Vec::new(),
        Some(commit) => {
            let state = store
                .connection_state(id, config.source.initial_cursor())
                .await?;
            store
                .commit_fhir(id, &state, commit, client.clock().now())
                .await?
        }
    };
    let due = poller.committed(&read);
    Ok(PageResult {
        created: containers.len(),
        containers,
        returned: read.returned,
        requested: None,
        cursor: read.status(),
        cursor_moved: read.moved,
        // Versions at the inclusive cursor are read again by design: not a coarse `since`.
        behind: 0,
        more: due,
    })
}

/// The last version the connection took of each resource of `type_name` that `versions`
/// found, by id (a resource never taken is absent).
async fn seen_before(
    store: &Store,
    connection: &str,
    type_name: &str,
    versions: &Versions,
) -> Result<HashMap<String, Seen>, StoreError> {
    let mut before = HashMap::new();
    for id in versions.resource_ids() {
        if let Some(seen) = store.fhir_seen(connection, type_name, id).await? {
            before.insert(id.to_owned(), seen);
        }
    }
    Ok(before)
}
