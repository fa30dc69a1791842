//! A light record of what a receiver acknowledged: one identity per notification id, and
//! running counts, without the bodies. It is enough to prove a long run (hundreds of thousands
//! of notifications, kills, outages) lost nothing and kept its ids, in tens of megabytes.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use courier_wire::notification_id;

/// Problems kept with their description; beyond this many only the count grows.
const EXAMPLES: usize = 10;

/// What makes a notification the notification of one change: its connection, its sequence
/// and the changed record's key and version, as the body's `data` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `data.connection`.
    pub connection: String,
    /// `data.sequence`.
    pub sequence: u64,
    /// `data.key`.
    pub key: String,
    /// `data.version`.
    pub version: String,
}

impl Identity {
    /// The identity a notification body declares, or `None` when a field is missing.
    pub fn from_body(json: &Value) -> Option<Self> {
        let data = &json["data"];
        Some(Self {
            connection: data["connection"].as_str()?.to_owned(),
            sequence: data["sequence"].as_u64()?,
            key: data["key"].as_str()?.to_owned(),
            version: data["version"].as_str()?.to_owned(),
        })
    }
}

/// Problems of one kind: how many, and the first few described.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Problems {
    /// How many were found.
    pub count: usize,
    /// The first [`EXAMPLES`] of them, described.
    pub examples: Vec<String>,
}

impl Problems {
    fn add(&mut self, describe: impl FnOnce() -> String) {
        self.count += 1;
        if self.examples.len() < EXAMPLES {
            self.examples.push(describe());
        }
    }

    /// Whether none were found.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// Every acknowledged notification id with the identity of its first acknowledgement.
#[derive(Debug, Default)]
pub struct Ledger {
    /// `None` when the body declared no identity (a body that is not a notification).
    first: HashMap<String, Option<Identity>>,
    /// Acknowledged requests whose id had been acknowledged before.
    duplicates: usize,
    /// Acknowledged requests whose identity differs from the first one of the same id, or
    /// whose body `id` is not the `webhook-id` header.
    mismatches: Problems,
}

impl Ledger {
    /// Records an acknowledged request; returns whether its id is new.
    pub fn accept(&mut self, id: &str, json: &Value) -> bool {
        if json["id"].as_str() != Some(id) {
            self.mismatches
                .add(|| format!("{id}: the body's id is {}", json["id"]));
        }
        let identity = Identity::from_body(json);
        match self.first.get(id) {
            Some(original) => {
                self.duplicates += 1;
                if *original != identity {
                    self.mismatches
                        .add(|| format!("{id}: first {original:?}, then {identity:?}"));
                }
                false
            }
            None => {
                self.first.insert(id.to_owned(), identity);
                true
            }
        }
    }

    /// Distinct ids acknowledged.
    pub fn distinct(&self) -> usize {
        self.first.len()
    }

    /// Acknowledged requests whose id had been acknowledged before.
    pub fn duplicates(&self) -> usize {
        self.duplicates
    }

    /// Every distinct id with the identity of its first acknowledgement.
    pub fn identities(&self) -> impl Iterator<Item = (&str, Option<&Identity>)> {
        self.first
            .iter()
            .map(|(id, identity)| (id.as_str(), identity.as_ref()))
    }

    /// Checks everything acknowledged: per connection, the sequences seen, those missing
    /// from 1 to the highest, and every way one change could have got two ids or one id two
    /// changes.
    pub fn audit(&self) -> Audit {
        let mut audit = Audit {
            mismatches: self.mismatches.clone(),
            ..Audit::default()
        };
        let mut by_connection: BTreeMap<&str, Vec<(&str, &Identity)>> = BTreeMap::new();
        for (id, identity) in &self.first {
            match identity {
                Some(identity) => by_connection
                    .entry(identity.connection.as_str())
                    .or_default()
                    .push((id.as_str(), identity)),
                None => audit.unidentified.add(|| id.clone()),
            }
        }
        for (connection, mut notifications) in by_connection {
            notifications.sort_by_key(|(_, identity)| identity.sequence);
            audit
                .connections
                .insert(connection.to_owned(), audit_connection(&notifications));
        }
        audit
    }
}

/// What [`Ledger::audit`] found; see [`Audit::is_clean`].
#[derive(Debug, Clone, Default)]
pub struct Audit {
    /// Per connection id.
    pub connections: BTreeMap<String, ConnectionAudit>,
    /// Ids whose body declared no identity.
    pub unidentified: Problems,
    /// Same id, different identity; or a body id that is not the header's.
    pub mismatches: Problems,
}

impl Audit {
    /// Whether every connection is gap-free and every id consistent.
    pub fn is_clean(&self) -> bool {
        self.unidentified.is_empty()
            && self.mismatches.is_empty()
            && self.connections.values().all(ConnectionAudit::is_clean)
    }
}

/// One connection's part of an [`Audit`].
#[derive(Debug, Clone, Default)]
pub struct ConnectionAudit {
    /// Distinct ids acknowledged.
    pub delivered: usize,
    /// The highest sequence acknowledged.
    pub highest_sequence: u64,
    /// Sequences from 1 to the highest that no acknowledged notification carries.
    pub missing_sequences: Problems,
    /// Sequences carried by two different ids.
    pub shared_sequences: Problems,
    /// (key, version) pairs carried by two different ids.
    pub shared_changes: Problems,
    /// Ids that are not the hash of their connection, key and version.
    pub wrong_ids: Problems,
}

impl ConnectionAudit {
    /// Whether sequences are exactly 1..=highest, one id each, and every id is the one its
    /// change must have.
    pub fn is_clean(&self) -> bool {
        self.missing_sequences.is_empty()
            && self.shared_sequences.is_empty()
            && self.shared_changes.is_empty()
            && self.wrong_ids.is_empty()
    }
}

/// Audits one connection's notifications, sorted by sequence.
fn audit_connection(notifications: &[(&str, &Identity)]) -> ConnectionAudit {
    let mut audit = ConnectionAudit {
        delivered: notifications.len(),
        highest_sequence: notifications.last().map_or(0, |(_, i)| i.sequence),
        ..ConnectionAudit::default()
    };
    let mut changes: HashMap<(&str, &str), &str> = HashMap::new();
    let mut expected = 1;
    let mut previous: Option<(&str, u64)> = None;
    for &(id, identity) in notifications {
        let sequence = identity.sequence;
        if let Some((other, at)) = previous.filter(|(_, at)| *at == sequence) {
            audit
                .shared_sequences
                .add(|| format!("sequence {at}: {other} and {id}"));
        }
        for missing in expected..sequence {
            audit
                .missing_sequences
                .add(|| format!("sequence {missing}"));
        }
        expected = expected.max(sequence + 1);
        previous = Some((id, sequence));
        let change = (identity.key.as_str(), identity.version.as_str());
        if let Some(other) = changes.insert(change, id) {
            audit
                .shared_changes
                .add(|| format!("key {} version {}: {other} and {id}", change.0, change.1));
        }
        if notification_id(&identity.connection, change.0, change.1) != id {
            audit
                .wrong_ids
                .add(|| format!("{id} is not the id of {identity:?}"));
        }
    }
    audit
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(connection: &str, sequence: u64, key: &str, version: &str) -> (String, Value) {
        let id = notification_id(connection, key, version);
        let json = json!({"id": id, "data": {
            "connection": connection, "sequence": sequence, "key": key, "version": version,
        }});
        (id, json)
    }

    fn ledger_of(bodies: &[(String, Value)]) -> Ledger {
        let mut ledger = Ledger::default();
        for (id, json) in bodies {
            ledger.accept(id, json);
        }
        ledger
    }

    #[test]
    fn duplicates_with_their_original_identity_keep_the_audit_clean() {
        let bodies = [
            body("a", 1, "k1", "1"),
            body("a", 2, "k2", "2"),
            body("a", 1, "k1", "1"),
            body("b", 1, "k1", "1"),
        ];
        let ledger = ledger_of(&bodies);
        assert_eq!((ledger.distinct(), ledger.duplicates()), (3, 1));
        let audit = ledger.audit();
        assert!(audit.is_clean(), "{audit:?}");
        assert_eq!(audit.connections["a"].delivered, 2);
        assert_eq!(audit.connections["a"].highest_sequence, 2);
        assert_eq!(audit.connections["b"].highest_sequence, 1);
    }

    #[test]
    fn a_gap_in_the_sequence_is_reported_by_number() {
        let ledger = ledger_of(&[body("a", 1, "k1", "1"), body("a", 4, "k4", "4")]);
        let audit = ledger.audit();
        assert!(!audit.is_clean());
        let missing = &audit.connections["a"].missing_sequences;
        assert_eq!(missing.count, 2);
        assert_eq!(missing.examples, ["sequence 2", "sequence 3"]);
    }

    #[test]
    fn one_id_for_two_changes_or_two_ids_for_one_change_is_reported() {
        let (id, mut changed) = body("a", 1, "k1", "1");
        let original = changed.clone();
        changed["data"]["sequence"] = json!(2);
        let ledger = ledger_of(&[(id.clone(), original), (id, changed)]);
        assert_eq!(
            ledger.audit().mismatches.count,
            1,
            "same id, other sequence"
        );

        let (_, json) = body("a", 1, "k1", "1");
        let mut forged = json.clone();
        forged["id"] = json!("msg_forged");
        let ledger = ledger_of(&[body("a", 1, "k1", "1"), ("msg_forged".into(), forged)]);
        let audit = ledger.audit();
        let connection = &audit.connections["a"];
        assert_eq!(connection.shared_sequences.count, 1);
        assert_eq!(connection.shared_changes.count, 1);
        assert_eq!(connection.wrong_ids.count, 1);
    }

    #[test]
    fn a_body_id_that_is_not_the_header_id_is_a_mismatch() {
        let (_, json) = body("a", 1, "k1", "1");
        let ledger = ledger_of(&[("msg_other".into(), json)]);
        assert_eq!(ledger.audit().mismatches.count, 1);
    }

    #[test]
    fn a_body_without_identity_is_counted_not_audited() {
        let ledger = ledger_of(&[("msg_x".into(), json!({"id": "msg_x"}))]);
        let audit = ledger.audit();
        assert_eq!(audit.unidentified.count, 1);
        assert!(audit.connections.is_empty());
        assert!(!audit.is_clean());
    }
}
