//! Every structural problem of a file in one run, not only serde's first.
//!
//! serde stops at the first key of a wrong type, unknown or missing. To go on, the file is
//! read as a plain TOML tree and deserialized again and again: after each problem the
//! offending key is taken out (an unknown or mistyped key; optional keys then get their
//! defaults) or a placeholder put in (a missing required key), until the tree deserializes.
//! The semantic checks then run on that tree, but their problems at a repaired key are
//! dropped: they would only be about the placeholder or a repeat of the same mistake.

use toml::Value;

use super::{structural, Problem};
use crate::config::locate::{KeyPath, Locator, Segment};
use crate::config::raw::RawConfig;

/// Structural problems collected at most: each costs a full deserialization of the tree, and
/// a file with more has a different problem (the wrong file, say).
const PROBLEMS_AT_MOST: usize = 500;

/// What repairing a file found.
pub(super) struct Repaired {
    /// Every structural problem, in the order found.
    pub problems: Vec<Problem>,
    /// The repaired tree, deserialized; `None` when it could not be repaired.
    pub raw: Option<RawConfig>,
    /// The keys taken out or put in: semantic problems there are not reported.
    pub repaired: Vec<KeyPath>,
}

impl Repaired {
    /// Whether `problem` only follows from another: it is at a repaired key, or names one of
    /// its table ("page_size_param requires page_size" once `page_size` was taken out), or
    /// is about a key that a problem of its table already points to ("use secret_env").
    pub fn follows(&self, problem: &Problem) -> bool {
        let table = problem.path.parent();
        let repaired_here = self.repaired.iter().any(|key| {
            problem.path.starts_with(key)
                || (key.parent() == table
                    && key
                        .last_key()
                        .is_some_and(|k| mentions(&problem.message, k)))
        });
        let pointed_to = problem.path.last_key().is_some_and(|key| {
            self.problems.iter().any(|other| {
                other.path.parent() == table
                    && other.path != problem.path
                    && mentions(&other.message, key)
            })
        });
        repaired_here || pointed_to
    }
}

/// Whether `message` names `key` as a word of its own.
fn mentions(message: &str, key: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    message.match_indices(key).any(|(at, _)| {
        let before = message[..at].chars().next_back();
        let after = message[at + key.len()..].chars().next();
        !before.is_some_and(word) && !after.is_some_and(word)
    })
}

/// Collects every structural problem of `text` (which is valid TOML with at least one).
pub(super) fn repair(text: &str, locator: &Locator<'_>) -> Repaired {
    let mut found = Repaired {
        problems: Vec::new(),
        raw: None,
        repaired: Vec::new(),
    };
    let Ok(mut tree) = text.parse::<toml::Table>().map(Value::Table) else {
        return found;
    };
    while found.problems.len() < PROBLEMS_AT_MOST {
        let error = match serde_path_to_error::deserialize::<_, RawConfig>(tree.clone()) {
            Ok(raw) => {
                found.raw = Some(raw);
                break;
            }
            Err(error) => error,
        };
        let problem = structural(&error, locator);
        let missing = problem.message == super::MISSING_KEY;
        if found.repaired.contains(&problem.path) && !missing {
            break; // Repaired already, and still wrong: give up rather than loop.
        }
        let mended = match missing {
            true => put(&mut tree, &problem.path, placeholder(&problem.path)),
            false => take(&mut tree, &problem.path),
        };
        // A missing key that was taken out for its type was reported already.
        if !(missing && (found.repaired.contains(&problem.path) || found.follows(&problem))) {
            found.problems.push(problem.clone());
        }
        if !mended {
            break;
        }
        found.repaired.push(problem.path);
    }
    found
}

/// A value that deserializes where a required key is missing: `[store]` is the only required
/// table, every other required key is a string.
fn placeholder(path: &KeyPath) -> Value {
    match path.segments() {
        [Segment::Key(key)] if key == "store" => Value::Table(toml::Table::from_iter([(
            "path".into(),
            Value::String(String::new()),
        )])),
        _ => Value::String(String::new()),
    }
}

/// The table holding the last key of `path` (indexes after it are dropped: a bad element
/// takes its whole array out), and that key.
fn parent_of<'v>(tree: &'v mut Value, path: &KeyPath) -> Option<(&'v mut toml::Table, String)> {
    let mut segments = path.segments();
    while let [rest @ .., Segment::Index(_)] = segments {
        segments = rest;
    }
    let (Segment::Key(last), parents) = segments.split_last()? else {
        return None;
    };
    let mut node = tree;
    for segment in parents {
        node = match segment {
            Segment::Key(key) => node.get_mut(key.as_str())?,
            Segment::Index(index) => node.get_mut(*index)?,
        };
    }
    Some((node.as_table_mut()?, last.clone()))
}

/// Takes the key at `path` out; `false` when there was none.
fn take(tree: &mut Value, path: &KeyPath) -> bool {
    parent_of(tree, path).is_some_and(|(table, key)| table.remove(&key).is_some())
}

/// Puts `value` at `path`; `false` when its table is not there.
fn put(tree: &mut Value, path: &KeyPath, value: Value) -> bool {
    parent_of(tree, path).is_some_and(|(table, key)| table.insert(key, value).is_none())
}
