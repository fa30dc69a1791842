//! The claim table of one connection: which containers are in memory (being enriched, being
//! delivered, or waiting as bare sequence numbers behind the head of their key), and the
//! per-key lines that promote the next container of a key when the one before it finishes.
//!
//! Every claim carries a token: a release names the claim it ends, so a late release of a
//! claim that a restart voided (and someone else took over since) changes nothing. Releases
//! are explicit calls ([`ClaimTable::finish`], [`ClaimTable::let_go`]); nothing happens when a
//! [`Ticket`] goes out of scope.

use std::collections::HashMap;

use crate::delivery::order::KeyOrder;

/// Names one claim on one container. Copying it does not copy the claim: the first release
/// ends it, and any later release of the same ticket is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    /// The claimed container's sequence number.
    pub sequence: u64,
    /// Which claim on that container this is.
    token: u64,
}

/// What admitting a container found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Claimed: send it on.
    Go(Ticket),
    /// It waits behind an earlier container of its key, which will promote it.
    Waits,
    /// Already in flight or waiting.
    Taken,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Enriching,
    Delivering,
    /// Behind the head of its key; not in memory beyond this entry.
    Waiting,
}

#[derive(Debug)]
struct Entry {
    token: u64,
    stage: Stage,
    /// The key's hash, with per-key order.
    key: Option<u64>,
    /// The token of the destination's probe slot that travels with this claim: given back
    /// when the claim ends or is voided.
    probe: Option<u64>,
}

/// What a claim that ended leaves behind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ended {
    /// The next container of its key, claimed: dispatch it.
    pub next: Option<Ticket>,
    /// The probe token that travelled with the claim: give the slot back.
    pub probe: Option<u64>,
}

/// See the module doc.
#[derive(Debug, Default)]
pub struct ClaimTable {
    /// By sequence number: claimed or waiting containers.
    entries: HashMap<u64, Entry>,
    /// The lines of containers that share a key.
    lines: KeyOrder,
    /// The token of the next claim; never reused, so a voided claim stays void.
    next_token: u64,
    /// Containers let go so far: a connection caught up with its store is no longer caught
    /// up once this moved.
    let_go: u64,
}

impl ClaimTable {
    /// Claims container `sequence` (of key hash `key`, with per-key order, probing with
    /// `probe` when set) unless it is in flight or waiting, or has it wait behind the head of
    /// its key (then it does not probe).
    pub fn admit(&mut self, sequence: u64, key: Option<u64>, probe: Option<u64>) -> Admission {
        if self.entries.contains_key(&sequence) {
            return Admission::Taken;
        }
        let goes = key.is_none_or(|key| self.lines.admit(key, sequence));
        let stage = if goes {
            Stage::Enriching
        } else {
            Stage::Waiting
        };
        let token = self.token();
        let probe = probe.filter(|_| goes);
        let entry = Entry {
            token,
            stage,
            key,
            probe,
        };
        self.entries.insert(sequence, entry);
        match goes {
            true => Admission::Go(Ticket { sequence, token }),
            false => Admission::Waits,
        }
    }

    /// The claimed container goes to delivery: a new generation no longer voids it. `false`
    /// when the claim was voided (its notification must not go out).
    pub fn delivering(&mut self, ticket: Ticket) -> bool {
        match self.entries.get_mut(&ticket.sequence) {
            Some(entry) if entry.token == ticket.token => {
                entry.stage = Stage::Delivering;
                true
            }
            _ => false,
        }
    }

    /// Whether the claim still holds (a new generation did not void it).
    pub fn is_current(&self, ticket: Ticket) -> bool {
        self.entries
            .get(&ticket.sequence)
            .is_some_and(|e| e.token == ticket.token)
    }

    /// A new generation of the connection: claims still enriching (their work was cancelled)
    /// and waiting containers are void; deliveries keep their claims and their keys. Answers
    /// the probe tokens the voided claims held.
    pub fn void_undelivered(&mut self) -> Vec<u64> {
        let mut probes = Vec::new();
        self.entries.retain(|_, e| {
            let keep = e.stage == Stage::Delivering;
            probes.extend(e.probe.filter(|_| !keep));
            keep
        });
        let entries = &self.entries;
        self.lines
            .forget_waiting(|head| entries.contains_key(&head));
        probes
    }

    /// Ends the claim of a container that left the store (delivered, dead-lettered, or found
    /// gone). With `promote`, the next container of its key is claimed and returned, to be
    /// dispatched; without, its line dissolves (the next walk of the store dispatches them).
    pub fn finish(&mut self, ticket: Ticket, promote: bool) -> Ended {
        let Some(entry) = self.remove(ticket) else {
            return Ended::default();
        };
        let next = entry.key.and_then(|key| match promote {
            true => self.promote(key, ticket.sequence),
            false => {
                self.dissolve(key, ticket.sequence);
                None
            }
        });
        let probe = entry.probe;
        Ended { next, probe }
    }

    /// Ends the claim of a container that stays pending: its line dissolves, so no later
    /// container of its key overtakes it. `None` when the claim no longer held.
    pub fn let_go(&mut self, ticket: Ticket) -> Option<Ended> {
        let entry = self.remove(ticket)?;
        self.let_go += 1;
        if let Some(key) = entry.key {
            self.dissolve(key, ticket.sequence);
        }
        let probe = entry.probe;
        Some(Ended { next: None, probe })
    }

    /// How many containers were let go so far.
    pub fn let_go_count(&self) -> u64 {
        self.let_go
    }

    /// Containers claimed or waiting.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is claimed or waiting.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether container `sequence` is neither claimed nor waiting.
    pub fn is_free(&self, sequence: u64) -> bool {
        !self.entries.contains_key(&sequence)
    }

    /// Removes the entry `ticket` holds; `None` for a claim that no longer holds.
    fn remove(&mut self, ticket: Ticket) -> Option<Entry> {
        let entry = self.entries.get(&ticket.sequence)?;
        if entry.token != ticket.token {
            return None;
        }
        self.entries.remove(&ticket.sequence)
    }

    /// The head `sequence` of `key` finished: claims the next of its line, if one waits.
    fn promote(&mut self, key: u64, sequence: u64) -> Option<Ticket> {
        let next = self.lines.finish(key, sequence)?;
        let token = self.token();
        let entry = self.entries.get_mut(&next)?;
        (entry.token, entry.stage) = (token, Stage::Enriching);
        Some(Ticket {
            sequence: next,
            token,
        })
    }

    /// Removes the line of `key` headed by `sequence` and the containers waiting in it.
    fn dissolve(&mut self, key: u64, sequence: u64) {
        for waiting in self.lines.dissolve(key, sequence) {
            self.entries.remove(&waiting);
        }
    }

    fn token(&mut self) -> u64 {
        self.next_token += 1;
        self.next_token
    }
}
