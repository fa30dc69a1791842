//! Key paths (`connections.clinic-a.enrich[1].path`) and the line where a key is written.
//!
//! Semantic checks run on deserialized values, which have forgotten where they came from, so
//! the line of an offending key is found again by walking a span-keeping `toml_edit` parse of
//! the same text.

use std::fmt;

use toml_edit::{Array, Document, Item, Table, TableLike, Value};

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Segment {
    /// A key in a table.
    Key(String),
    /// A position in an array or an array of tables.
    Index(usize),
}

/// Where a value sits in the file; kept as segments so ids containing dots stay unambiguous.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct KeyPath(Vec<Segment>);

impl KeyPath {
    /// The path of the document itself.
    pub fn root() -> Self {
        Self::default()
    }

    /// The path of `key` inside this table.
    pub fn key(&self, key: &str) -> Self {
        self.with(Segment::Key(key.to_owned()))
    }

    /// The path of element `index` of this array.
    pub fn index(&self, index: usize) -> Self {
        self.with(Segment::Index(index))
    }

    /// The path one step up; the root is its own parent.
    pub fn parent(&self) -> Self {
        let mut segments = self.0.clone();
        segments.pop();
        Self(segments)
    }

    /// Builds a path from the segments `serde_path_to_error` reports.
    pub fn from_serde(path: &serde_path_to_error::Path) -> Self {
        use serde_path_to_error::Segment as Serde;
        let segments = path.iter().filter_map(|segment| match segment {
            Serde::Map { key } => Some(Segment::Key(key.clone())),
            Serde::Enum { variant } => Some(Segment::Key(variant.clone())),
            Serde::Seq { index } => Some(Segment::Index(*index)),
            Serde::Unknown => None,
        });
        Self(segments.collect())
    }

    /// The steps of the path, from the root.
    pub fn segments(&self) -> &[Segment] {
        &self.0
    }

    /// Whether this path is `prefix` or lies inside it.
    pub fn starts_with(&self, prefix: &KeyPath) -> bool {
        self.0.starts_with(&prefix.0)
    }

    /// The first key of the path, which says which kind of table it is in.
    pub fn first_key(&self) -> Option<&str> {
        match self.0.first() {
            Some(Segment::Key(key)) => Some(key),
            _ => None,
        }
    }

    /// The last key of the path, if it ends with one.
    pub fn last_key(&self) -> Option<&str> {
        match self.0.last() {
            Some(Segment::Key(key)) => Some(key),
            _ => None,
        }
    }

    fn with(&self, segment: Segment) -> Self {
        let mut segments = self.0.clone();
        segments.push(segment);
        Self(segments)
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Index(index) => write!(f, "[{index}]")?,
                Segment::Key(key) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    write_key(f, key)?;
                }
            }
        }
        Ok(())
    }
}

/// Writes a key bare when TOML would accept it bare, quoted otherwise, so the path can be
/// read back unambiguously.
fn write_key(f: &mut fmt::Formatter<'_>, key: &str) -> fmt::Result {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if bare {
        f.write_str(key)
    } else {
        write!(f, "{key:?}")
    }
}

/// Finds the lines of key paths in one configuration text.
pub(super) struct Locator<'t> {
    text: &'t str,
    document: Option<Document<&'t str>>,
}

impl<'t> Locator<'t> {
    /// Parses `text` once for any number of look-ups; a text that does not parse locates
    /// nothing.
    pub fn new(text: &'t str) -> Self {
        Self {
            text,
            document: Document::parse(text).ok(),
        }
    }

    /// The 1-based line where `path` is written: the line of its key, or of its table header.
    pub fn line_of(&self, path: &KeyPath) -> Option<usize> {
        let document = self.document.as_ref()?;
        let mut node = Node::Item(document.as_item());
        let mut span = None;
        for segment in &path.0 {
            let (next, next_span) = node.step(segment)?;
            node = next;
            span = next_span.or(span);
        }
        span.map(|span| self.line_at(span.start))
    }

    /// The line of `path`, or of its nearest ancestor written in the file: a key that was
    /// left out is best pointed at through the table that should hold it.
    pub fn line_of_nearest(&self, path: &KeyPath) -> Option<usize> {
        let mut path = path.clone();
        while !path.0.is_empty() {
            if let Some(line) = self.line_of(&path) {
                return Some(line);
            }
            path = path.parent();
        }
        None
    }

    /// The 1-based line that contains byte `offset`.
    pub fn line_at(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        1 + self.text.as_bytes()[..end]
            .iter()
            .filter(|byte| **byte == b'\n')
            .count()
    }
}

type Span = std::ops::Range<usize>;

/// The node types a path walks through; `toml_edit` hands out arrays of tables as `Table`s
/// and array elements as `Value`s, not as `Item`s.
#[derive(Clone, Copy)]
enum Node<'d> {
    Item(&'d Item),
    Table(&'d Table),
    Value(&'d Value),
}

impl<'d> Node<'d> {
    /// Follows one segment, returning the child and the span that best marks it.
    fn step(self, segment: &Segment) -> Option<(Node<'d>, Option<Span>)> {
        match segment {
            Segment::Key(key) => {
                let (key, item) = self.table_like()?.get_key_value(key)?;
                Some((Node::Item(item), key.span().or_else(|| item.span())))
            }
            Segment::Index(index) => self.element(*index),
        }
    }

    fn table_like(self) -> Option<&'d dyn TableLike> {
        match self {
            Node::Item(item) => item.as_table_like(),
            Node::Table(table) => Some(table),
            Node::Value(value) => value.as_inline_table().map(|t| t as &dyn TableLike),
        }
    }

    fn element(self, index: usize) -> Option<(Node<'d>, Option<Span>)> {
        let array: &Array = match self {
            Node::Item(Item::ArrayOfTables(tables)) => {
                let table = tables.get(index)?;
                return Some((Node::Table(table), table.span()));
            }
            Node::Item(item) => item.as_array()?,
            Node::Value(value) => value.as_array()?,
            Node::Table(_) => return None,
        };
        let value = array.get(index)?;
        Some((Node::Value(value), value.span()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"[store]
path = "var"

[connections."odd.id"]
base_url = "x"
limits = { page = 5 }
retry = [1,
  2]

[[connections."odd.id".enrich]]
name = "a"

[[connections."odd.id".enrich]]
name = "b"
"#;

    fn locate(text: &str, path: &KeyPath) -> Option<usize> {
        Locator::new(text).line_of(path)
    }

    fn conn() -> KeyPath {
        KeyPath::root().key("connections").key("odd.id")
    }

    #[test]
    fn paths_render_dotted_with_indexes_and_quote_keys_that_are_not_bare() {
        let path = conn().key("enrich").index(1).key("name");
        assert_eq!(path.to_string(), r#"connections."odd.id".enrich[1].name"#);
    }

    #[test]
    fn finds_the_line_of_plain_keys_and_table_headers() {
        assert_eq!(
            locate(TEXT, &KeyPath::root().key("store").key("path")),
            Some(2)
        );
        assert_eq!(locate(TEXT, &conn()), Some(4));
        assert_eq!(locate(TEXT, &conn().key("base_url")), Some(5));
    }

    #[test]
    fn finds_the_line_of_inline_table_keys_and_array_elements() {
        assert_eq!(locate(TEXT, &conn().key("limits").key("page")), Some(6));
        assert_eq!(locate(TEXT, &conn().key("retry").index(1)), Some(8));
    }

    #[test]
    fn finds_the_line_of_keys_in_an_array_of_tables() {
        assert_eq!(locate(TEXT, &conn().key("enrich").index(1)), Some(13));
        assert_eq!(
            locate(TEXT, &conn().key("enrich").index(1).key("name")),
            Some(14)
        );
    }

    #[test]
    fn a_key_left_out_is_located_at_the_nearest_table_written() {
        let locator = Locator::new(TEXT);
        assert_eq!(locator.line_of_nearest(&conn().key("missing")), Some(4));
        assert_eq!(
            locator.line_of_nearest(&KeyPath::root().key("runtime")),
            None
        );
    }

    #[test]
    fn absent_keys_and_unparsable_text_locate_nothing() {
        assert_eq!(locate(TEXT, &conn().key("missing")), None);
        assert_eq!(locate(TEXT, &conn().key("enrich").index(5)), None);
        assert_eq!(locate("[store", &KeyPath::root().key("store")), None);
    }
}
