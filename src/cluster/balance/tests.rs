//! The balance, played out over a simulated lease table: members plan in turn, each from
//! what the table says at its turn, until nobody has anything left to do.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Utc;

use super::{plan, Plan, View};
use crate::cluster::leases::Lease;

/// The lease table of a simulated cluster: connection → owner.
struct Table {
    owners: BTreeMap<String, Option<String>>,
    /// Changes of owner from one member to another since the last look (hand-backs that
    /// were taken again count once, at the take).
    moves: usize,
}

impl Table {
    fn new(connections: usize) -> Self {
        let owners = (1..=connections)
            .map(|i| (format!("conn-{i:02}"), None))
            .collect();
        Self { owners, moves: 0 }
    }

    fn connections(&self) -> Vec<String> {
        self.owners.keys().cloned().collect()
    }

    fn leases(&self) -> Vec<Lease> {
        self.owners
            .iter()
            .map(|(connection, owner)| Lease {
                connection: connection.clone(),
                owner: owner.clone(),
                epoch: 1,
                expires_at: Utc::now(),
                expired: owner.is_none(),
                redispatch: 0,
            })
            .collect()
    }

    fn held_by(&self, member: &str) -> BTreeSet<String> {
        let mine = self
            .owners
            .iter()
            .filter(|(_, o)| o.as_deref() == Some(member));
        mine.map(|(c, _)| c.clone()).collect()
    }

    fn plan_for(&self, me: &str, live: &[String]) -> Plan {
        let (connections, leases, held) = (self.connections(), self.leases(), self.held_by(me));
        plan(&View {
            me,
            live,
            connections: &connections,
            leases: &leases,
            held: &held,
        })
    }

    /// Members take turns until a whole round changes nothing; answers the rounds taken.
    fn settle(&mut self, live: &[String]) -> usize {
        let mut previous: BTreeMap<String, Option<String>> = self.owners.clone();
        let mut last_owner: BTreeMap<String, String> = previous
            .iter()
            .filter_map(|(c, o)| o.clone().map(|o| (c.clone(), o)))
            .collect();
        for round in 1..=20 {
            for me in live {
                let plan = self.plan_for(me, live);
                for connection in plan.release {
                    self.owners.insert(connection, None);
                }
                for connection in plan.acquire {
                    let owner = self.owners.get_mut(&connection).unwrap();
                    if owner.is_none() {
                        *owner = Some(me.clone());
                        if last_owner
                            .insert(connection, me.clone())
                            .is_some_and(|o| &o != me)
                        {
                            self.moves += 1;
                        }
                    }
                }
            }
            if self.owners == previous {
                return round;
            }
            previous = self.owners.clone();
        }
        panic!("the balance never settled: {:?}", self.owners);
    }

    fn counts(&self, live: &[String]) -> Vec<usize> {
        live.iter().map(|m| self.held_by(m).len()).collect()
    }
}

fn members(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

#[test]
fn twelve_connections_over_three_members_is_four_each() {
    let mut table = Table::new(12);
    let live = members(&["a", "b", "c"]);
    table.settle(&live);
    assert_eq!(table.counts(&live), [4, 4, 4]);
    assert!(table.owners.values().all(Option::is_some));
}

#[test]
fn a_fourth_member_joining_moves_exactly_the_three_it_takes() {
    let mut table = Table::new(12);
    table.settle(&members(&["a", "b", "c"]));
    table.moves = 0;
    let live = members(&["a", "b", "c", "d"]);
    table.settle(&live);
    assert_eq!(table.counts(&live), [3, 3, 3, 3]);
    assert_eq!(table.moves, 3);
}

#[test]
fn five_connections_over_two_members_is_three_and_two() {
    let mut table = Table::new(5);
    let live = members(&["a", "b"]);
    table.settle(&live);
    let mut counts = table.counts(&live);
    counts.sort();
    assert_eq!(counts, [2, 3]);
}

#[test]
fn a_member_joining_a_rounded_split_moves_only_what_it_takes() {
    // 5 over 1, then a second member: it takes 2, and the first keeps the larger share
    // whatever the names' order.
    let mut table = Table::new(5);
    table.settle(&members(&["z"]));
    table.moves = 0;
    let live = members(&["a", "z"]);
    table.settle(&live);
    assert_eq!(table.counts(&live), [2, 3]);
    assert_eq!(table.moves, 2);
}

#[test]
fn the_survivors_of_a_member_that_left_take_its_connections_evenly() {
    let mut table = Table::new(6);
    table.settle(&members(&["a", "b", "c"]));
    for owner in table.owners.values_mut() {
        if owner.as_deref() == Some("c") {
            *owner = None;
        }
    }
    table.moves = 0;
    let live = members(&["a", "b"]);
    table.settle(&live);
    assert_eq!(table.counts(&live), [3, 3]);
    assert_eq!(
        table.moves, 0,
        "a's and b's own connections stay where they are"
    );
}

#[test]
fn a_lease_held_by_a_live_member_is_never_planned_for_another() {
    let mut table = Table::new(2);
    table.owners.insert("conn-01".into(), Some("b".into()));
    let plan = table.plan_for("a", &members(&["a", "b"]));
    assert_eq!(plan.acquire, ["conn-02"]);
    assert!(plan.release.is_empty());
}

#[test]
fn a_lease_of_a_connection_no_longer_configured_is_handed_back() {
    let table = Table::new(2);
    let held: BTreeSet<String> = ["conn-01".to_owned(), "gone".to_owned()].into();
    let (connections, leases) = (table.connections(), table.leases());
    let live = members(&["a"]);
    let plan = plan(&View {
        me: "a",
        live: &live,
        connections: &connections,
        leases: &leases,
        held: &held,
    });
    assert_eq!(plan.release, ["gone"]);
    assert_eq!(plan.acquire, ["conn-02"]);
}

#[test]
fn a_member_missing_from_the_live_list_still_counts_itself() {
    let table = Table::new(4);
    let plan = table.plan_for("a", &members(&["b"]));
    assert_eq!(plan.acquire.len(), 2);
}
