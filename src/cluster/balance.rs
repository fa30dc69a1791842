//! Which leases this instance takes and which it hands back, so connections spread evenly
//! (± 1) over the live instances and a change of members moves as few as it can. Pure: the
//! keeper reads the members and leases, asks [`plan`], and carries the plan out.
//!
//! Every live member computes the same shares from the same rows: `n` connections over `m`
//! members gives each ⌊n/m⌋, and the `n mod m` members holding the most now (then by name)
//! one more, so members already at the larger share keep it and nothing moves for the
//! rounding. A member over its share hands back only the excess; one under it takes free or
//! lapsed leases up to its share. A joining member therefore moves exactly what it takes.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

use super::leases::Lease;

/// What this instance should do at this tick.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Free or lapsed leases to take, best first (the database decides races).
    pub acquire: Vec<String>,
    /// Held leases to hand back.
    pub release: Vec<String>,
}

/// What the plan is made from.
pub struct View<'a> {
    /// This instance.
    pub me: &'a str,
    /// The live members (this instance among them, or added).
    pub live: &'a [String],
    /// The configured connections.
    pub connections: &'a [String],
    /// The lease rows read.
    pub leases: &'a [Lease],
    /// The connections this instance holds now.
    pub held: &'a BTreeSet<String>,
}

/// The plan for `view`; see the module doc.
pub fn plan(view: &View<'_>) -> Plan {
    let configured: BTreeSet<&String> = view.connections.iter().collect();
    // Leases of connections no longer configured (a reload removed them) go back first.
    let (kept, removed): (BTreeSet<&String>, BTreeSet<&String>) =
        view.held.iter().partition(|c| configured.contains(c));
    let mut plan = Plan {
        release: removed.into_iter().cloned().collect(),
        ..Plan::default()
    };
    let share = share_of(view, kept.len());
    let held = kept.len();
    if held > share {
        let mut excess: Vec<&String> = kept.into_iter().collect();
        excess.sort_by_key(|c| std::cmp::Reverse(rank(c, "")));
        plan.release
            .extend(excess.into_iter().take(held - share).cloned());
    } else if held < share {
        let rows: BTreeMap<&str, &Lease> = view
            .leases
            .iter()
            .map(|l| (l.connection.as_str(), l))
            .collect();
        let mut free: Vec<&String> = view
            .connections
            .iter()
            .filter(|c| !view.held.contains(*c))
            .filter(|c| rows.get(c.as_str()).is_none_or(|l| l.holder().is_none()))
            .collect();
        // Members taking at the same tick start from different connections, so they rarely
        // race for the same row.
        free.sort_by_key(|c| rank(c, view.me));
        plan.acquire = free.into_iter().take(share - held).cloned().collect();
    }
    plan
}

/// This instance's share: ⌊n/m⌋, plus one for the first `n mod m` members ranked by how many
/// they hold now (most first), then by name.
fn share_of(view: &View<'_>, mine: usize) -> usize {
    let mut live: Vec<&str> = view.live.iter().map(String::as_str).collect();
    if !live.contains(&view.me) {
        live.push(view.me);
    }
    let configured: BTreeSet<&str> = view.connections.iter().map(String::as_str).collect();
    let holding = |member: &str| -> usize {
        if member == view.me {
            return mine;
        }
        view.leases
            .iter()
            .filter(|l| configured.contains(l.connection.as_str()))
            .filter(|l| l.holder() == Some(member))
            .count()
    };
    let mut ranked: Vec<(usize, &str)> = live.iter().map(|m| (holding(m), *m)).collect();
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
    let (n, m) = (view.connections.len(), ranked.len());
    let position = ranked.iter().position(|(_, name)| *name == view.me);
    let extra = position.is_some_and(|at| at < n % m);
    n / m + usize::from(extra)
}

/// A stable, well-spread order of connections (salted per member when `salt` is set).
fn rank(connection: &str, salt: &str) -> [u8; 8] {
    let digest = Sha256::new()
        .chain_update(salt.as_bytes())
        .chain_update([0])
        .chain_update(connection.as_bytes())
        .finalize();
    let mut first = [0; 8];
    first.copy_from_slice(&digest[..8]);
    first
}

#[cfg(test)]
mod tests;
