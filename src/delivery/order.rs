//! Per-key order: of the notifications of one connection that share a key, only the oldest
//! dispatched one (the line's head) may be enriched and delivered; the others wait in line,
//! in sequence order, as bare sequence numbers (their containers stay in the store).
//!
//! Keys are 64-bit hashes of the key text: two keys that collide only wait for each other,
//! which costs a little concurrency and never breaks an order.

use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};

/// The lines of one connection, by key hash.
#[derive(Debug, Default)]
pub struct KeyOrder {
    lines: HashMap<u64, Line>,
}

#[derive(Debug)]
struct Line {
    /// The sequence being worked on.
    head: u64,
    /// Dispatched after the head, ascending.
    waiting: VecDeque<u64>,
}

impl KeyOrder {
    /// Admits container `sequence` of `key`: `true` when it may go now (it becomes the head of
    /// its line), `false` when it waits behind the head.
    pub fn admit(&mut self, key: u64, sequence: u64) -> bool {
        match self.lines.get_mut(&key) {
            None => {
                let waiting = VecDeque::new();
                self.lines.insert(
                    key,
                    Line {
                        head: sequence,
                        waiting,
                    },
                );
                true
            }
            Some(line) => {
                // Normally appended; an older container dispatched again (after a restart or
                // a re-enqueued dead letter) goes where its sequence says.
                let at = line.waiting.partition_point(|s| *s < sequence);
                if line.waiting.get(at) != Some(&sequence) {
                    line.waiting.insert(at, sequence);
                }
                false
            }
        }
    }

    /// The head `sequence` of `key` is done: the next waiting container becomes the head and
    /// is returned, to be dispatched. Anything but the head of a line changes nothing.
    pub fn finish(&mut self, key: u64, sequence: u64) -> Option<u64> {
        let line = self.lines.get_mut(&key).filter(|l| l.head == sequence)?;
        match line.waiting.pop_front() {
            Some(next) => {
                line.head = next;
                Some(next)
            }
            None => {
                self.lines.remove(&key);
                None
            }
        }
    }

    /// Removes the line of `key` whose head is `sequence`, returning the containers that
    /// waited in it: nobody will dispatch them from memory, the next walk of the store will.
    pub fn dissolve(&mut self, key: u64, sequence: u64) -> VecDeque<u64> {
        match self.lines.get(&key) {
            Some(line) if line.head == sequence => self.lines.remove(&key).unwrap().waiting,
            _ => VecDeque::new(),
        }
    }

    /// Keeps only the lines whose head `keep` accepts, each without its waiting containers,
    /// which the next walk of the store dispatches again.
    pub fn forget_waiting(&mut self, keep: impl Fn(u64) -> bool) {
        self.lines.retain(|_, line| keep(line.head));
        for line in self.lines.values_mut() {
            line.waiting.clear();
        }
    }

    /// Keys with a container being worked on.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether no key has a container being worked on.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

/// The hash of a key's text.
pub fn key_hash(text: &str) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

/// The hash of a JSON value used as a key: a string hashes as [`key_hash`] of its text (so
/// `"p-1"` and the record key `p-1` agree); anything else as its JSON text, without building
/// that text.
pub fn value_hash(value: &serde_json::Value) -> u64 {
    if let serde_json::Value::String(text) = value {
        return key_hash(text);
    }
    struct Feed(std::collections::hash_map::DefaultHasher);
    impl std::io::Write for Feed {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.write(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut feed = Feed(std::collections::hash_map::DefaultHasher::new());
    serde_json::to_writer(&mut feed, value).expect("writing into a hasher cannot fail");
    feed.0.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_goes_one_at_a_time_in_sequence_order() {
        let mut order = KeyOrder::default();
        assert!(order.admit(1, 10));
        assert!(!order.admit(1, 12));
        assert!(!order.admit(1, 15));
        assert_eq!(order.finish(1, 10), Some(12));
        assert_eq!(order.finish(1, 12), Some(15));
        assert_eq!(order.finish(1, 15), None);
        assert!(order.is_empty());
    }

    #[test]
    fn a_waiting_key_does_not_hold_back_other_keys() {
        let mut order = KeyOrder::default();
        assert!(order.admit(1, 1));
        assert!(!order.admit(1, 2));
        assert!(order.admit(2, 3), "another key goes while key 1 waits");
        assert_eq!(order.finish(2, 3), None);
        assert!(order.admit(2, 4));
        assert_eq!(order.len(), 2);
    }

    #[test]
    fn an_older_container_dispatched_again_waits_in_its_sequence_place() {
        let mut order = KeyOrder::default();
        assert!(order.admit(1, 20));
        assert!(!order.admit(1, 30));
        assert!(!order.admit(1, 25));
        assert!(!order.admit(1, 30), "admitting twice keeps one place");
        assert_eq!(order.finish(1, 20), Some(25));
        assert_eq!(order.finish(1, 25), Some(30));
        assert_eq!(order.finish(1, 30), None);
    }

    #[test]
    fn only_the_head_finishes_or_dissolves_a_line() {
        let mut order = KeyOrder::default();
        order.admit(1, 1);
        order.admit(1, 2);
        assert_eq!(order.finish(1, 2), None);
        assert!(order.dissolve(1, 2).is_empty());
        assert_eq!(order.dissolve(1, 1), VecDeque::from([2]));
        assert!(order.is_empty());
        assert!(order.admit(1, 2), "a dissolved line starts afresh");
    }

    #[test]
    fn forgetting_waiting_containers_keeps_chosen_heads_only() {
        let mut order = KeyOrder::default();
        order.admit(1, 1);
        order.admit(1, 3);
        order.admit(2, 2);
        order.admit(2, 4);
        order.forget_waiting(|head| head == 1);
        assert_eq!(order.len(), 1);
        assert_eq!(
            order.finish(1, 1),
            None,
            "its waiting container was forgotten"
        );
        assert!(order.admit(2, 4));
    }

    #[test]
    fn string_values_hash_like_record_keys_and_others_by_their_json() {
        use serde_json::json;
        assert_eq!(value_hash(&json!("p-1")), key_hash("p-1"));
        assert_eq!(value_hash(&json!(17)), value_hash(&json!(17)));
        assert_ne!(value_hash(&json!(17)), value_hash(&json!(18)));
        assert_ne!(value_hash(&json!(17)), value_hash(&json!("17")));
    }
}
