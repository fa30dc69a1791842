//! Reads that span many calls: a connection's pending containers walked a page at a time,
//! and the whole list of dead letters. A walk holds no files open between pages, and stops
//! (with [`StoreError::Unavailable`]) once the files it began on were taken out of service,
//! so it never mixes what one opening of the files showed with what another shows.

use std::collections::VecDeque;

use super::dead_letters::{DeadLetterFilter, EVERY};
use super::{Store, StoreError};
use crate::model::{Container, DeadLetter};

/// Containers read per page of a walk: enough to keep the walk's reads few, small enough
/// (about 256 KiB of containers) to never load a large backlog at once.
pub const WALK_PAGE: usize = 256;

/// Records read per page when a whole list is read (every dead letter, a replay's count).
const LIST_PAGE: usize = 1000;

/// One connection's pending containers from a sequence on, in sequence order; see
/// [`Store::pending`].
pub struct PendingWalk {
    store: Store,
    connection: String,
    /// Where the next page starts; `None` once the last page was read.
    from: Option<u64>,
    page: VecDeque<Result<Container, StoreError>>,
    /// The opening of the files the walk began on, once it read a page.
    epoch: Option<Option<u64>>,
    ended: bool,
}

impl PendingWalk {
    pub(super) fn new(store: Store, connection: &str, from: u64) -> Self {
        Self {
            store,
            connection: connection.to_owned(),
            from: Some(from),
            page: VecDeque::new(),
            epoch: None,
            ended: false,
        }
    }

    /// The next container (or the error reading it), or `None` at the end.
    pub async fn next(&mut self) -> Option<Result<Container, StoreError>> {
        if self.ended {
            return None;
        }
        if self.epoch.is_some_and(|began| began != self.store.epoch()) {
            return self.end(StoreError::Unavailable(
                "the files this read began on were taken out of service".into(),
            ));
        }
        if self.page.is_empty() {
            let from = self.from?;
            let began = self.store.epoch();
            let page = match self
                .store
                .pending_page(&self.connection, from, WALK_PAGE)
                .await
            {
                Ok(page) => page,
                Err(err) => return self.end(err),
            };
            self.epoch.get_or_insert(began);
            self.from = page.next;
            self.page = page.items.into();
        }
        self.page.pop_front()
    }

    fn end(&mut self, err: StoreError) -> Option<Result<Container, StoreError>> {
        self.ended = true;
        self.page.clear();
        Some(Err(err))
    }

    /// Reads what is left and counts it, for tests.
    #[cfg(test)]
    pub async fn count(mut self) -> usize {
        let mut count = 0;
        while self.next().await.is_some() {
            count += 1;
        }
        count
    }

    /// Reads what is left, failing at the first error, for tests.
    #[cfg(test)]
    pub async fn collect(mut self) -> Result<Vec<Container>, StoreError> {
        let mut all = Vec::new();
        while let Some(container) = self.next().await {
            all.push(container?);
        }
        Ok(all)
    }
}

impl Store {
    /// Pending containers of one connection with a sequence of at least `from`, in sequence
    /// order, read a page at a time so a large backlog is never loaded at once.
    pub fn pending(&self, connection: &str, from: u64) -> PendingWalk {
        PendingWalk::new(self.clone(), connection, from)
    }

    /// Every dead letter, oldest connection sequence first.
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, StoreError> {
        self.dead_letters_matching(&EVERY).await
    }

    /// Every dead letter `filter` matches, oldest connection sequence first.
    async fn dead_letters_matching(
        &self,
        filter: &DeadLetterFilter,
    ) -> Result<Vec<DeadLetter>, StoreError> {
        let (mut all, mut after) = (Vec::new(), None);
        loop {
            let page = self
                .dead_letter_page(filter, after.as_deref(), LIST_PAGE)
                .await?;
            all.extend(page.letters);
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(all),
            }
        }
    }

    /// How many retained notifications a replay of `range` would read.
    pub async fn retained_total(&self, range: &super::RetainedRange) -> Result<u64, StoreError> {
        let mut reader = self.read_retained(range);
        let mut total = 0;
        loop {
            let page = reader.next_page(LIST_PAGE).await?;
            if page.is_empty() {
                return Ok(total);
            }
            total += page.len() as u64;
        }
    }
}
