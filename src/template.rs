//! Path templates for enrichment requests: `/patients/{/patientId}` filled from a change item.
//!
//! A placeholder is a JSON pointer. One that starts with `/` points into the change item as
//! the EHR sent it; one that starts with a name (`{appointment/patient/id}`) points into the
//! result of the earlier enrichment step of that name, so a step can follow a reference that
//! only the fetched record carries. `{{` and `}}` stand for literal braces. Values are
//! percent-encoded as one path segment, so an identifier can never change the path's shape.

use std::fmt;

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use serde_json::{Map, Value};

/// Characters escaped inside one path segment (RFC 3986 `pchar` complement, plus `/`, `?`, `#`).
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'\\')
    .add(b'^')
    .add(b'|');

/// A parsed path template; parsing once at config load means rendering cannot fail on syntax.
#[derive(Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Placeholder(Placeholder),
}

/// Where a placeholder's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placeholder {
    /// A JSON pointer into the change item.
    Change(String),
    /// A JSON pointer into the named earlier enrichment result.
    Resource {
        /// The enrichment step's name.
        name: String,
        /// JSON pointer within that step's result.
        pointer: String,
    },
}

/// Why a template string is not a valid template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// A `{` without its `}`.
    #[error("unclosed '{{' at byte {0}")]
    Unclosed(usize),
    /// A `}` that closes nothing (write `}}` for a literal brace).
    #[error("unmatched '}}' at byte {0} (write '}}}}' for a literal brace)")]
    Unmatched(usize),
    /// `{}` names nothing.
    #[error("empty placeholder at byte {0}")]
    Empty(usize),
    /// `{name}` without a pointer after the name.
    #[error("placeholder '{{{0}}}' must be a JSON pointer such as '{{/id}}' or '{{step/id}}'")]
    NoPointer(String),
}

/// Why a template could not be filled for one change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The pointer selects nothing, or something that is not a string or number.
    #[error("no string or number at {0}")]
    Missing(String),
    /// Values made a path segment `.` or `..`, which the EHR or a proxy would resolve to
    /// another path (`/patients/..` is `/`): the value cannot stay one segment.
    #[error("a value makes the path segment {0:?}, which would change the path")]
    DotSegment(String),
}

impl Template {
    /// Parses `source`, so that syntax errors surface at config load, not at poll time.
    pub fn parse(source: &str) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = source.char_indices().peekable();
        while let Some((at, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|(_, n)| *n) == Some('{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek().map(|(_, n)| *n) == Some('}') => {
                    chars.next();
                    literal.push('}');
                }
                '}' => return Err(TemplateError::Unmatched(at)),
                '{' => {
                    let rest = &source[at + 1..];
                    let end = rest.find('}').ok_or(TemplateError::Unclosed(at))?;
                    let inner = &rest[..end];
                    if inner.contains('{') {
                        return Err(TemplateError::Unclosed(at));
                    }
                    for _ in 0..inner.chars().count() + 1 {
                        chars.next();
                    }
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Placeholder(Placeholder::parse(inner, at)?));
                }
                other => literal.push(other),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(Self {
            source: source.to_owned(),
            parts,
        })
    }

    /// The placeholders in order, so config validation can check that named steps exist.
    pub fn placeholders(&self) -> impl Iterator<Item = &Placeholder> {
        self.parts.iter().filter_map(|part| match part {
            Part::Placeholder(p) => Some(p),
            Part::Literal(_) => None,
        })
    }

    /// A template that is `text` word for word, with no placeholders: what a setting that
    /// may hold placeholders is when built in code rather than read from a file.
    pub fn literal(text: &str) -> Self {
        Self {
            source: text.to_owned(),
            parts: vec![Part::Literal(text.to_owned())],
        }
    }

    /// Fills the template from a change item and the enrichment results fetched so far.
    pub fn render(
        &self,
        change: &Value,
        resources: &Map<String, Value>,
    ) -> Result<String, RenderError> {
        // Where each value was written, to check the segments they are part of.
        let mut filled = Vec::new();
        let out = self.fill(change, resources, |out, value| {
            let start = out.len();
            out.extend(utf8_percent_encode(value, SEGMENT));
            filled.push(start..out.len());
        })?;
        refuse_dot_segments(&out, &filled)?;
        Ok(out)
    }

    /// Fills the template from the change item alone, values as they are: a name such as
    /// an event type (`appointment.{/action}`), not a path, so nothing is percent-encoded. A
    /// placeholder into an enrichment result is missing here (`courier check` refuses one
    /// where this is used).
    pub fn render_text(&self, change: &Value) -> Result<String, RenderError> {
        self.fill(change, &Map::new(), |out, value| out.push_str(value))
    }

    /// The literals in order, with each placeholder's value written by `write`.
    fn fill(
        &self,
        change: &Value,
        resources: &Map<String, Value>,
        mut write: impl FnMut(&mut String, &str),
    ) -> Result<String, RenderError> {
        let mut out = String::with_capacity(self.source.len() + 16);
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Placeholder(placeholder) => {
                    let value = placeholder
                        .resolve(change, resources)
                        .ok_or_else(|| RenderError::Missing(placeholder.to_string()))?;
                    write(&mut out, &value);
                }
            }
        }
        Ok(out)
    }

    /// Checks, before a change is stored, what its rendering needs from the change item
    /// alone: a value for every change placeholder and, when the template needs nothing else,
    /// a path that keeps its shape (an id `.` or `..` would request another path). A change
    /// that fails this can never be enriched, so its page is refused like any malformed item.
    pub fn check_change(&self, change: &Value) -> Result<(), RenderError> {
        let mut change_only = true;
        for placeholder in self.placeholders() {
            let Placeholder::Change(pointer) = placeholder else {
                change_only = false;
                continue;
            };
            if change.pointer(pointer).and_then(scalar_text).is_none() {
                return Err(RenderError::Missing(placeholder.to_string()));
            }
        }
        if change_only {
            self.render(change, &Map::new())?;
        }
        Ok(())
    }

    /// The template as written in the configuration.
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Template({:?})", self.source)
    }
}

impl Placeholder {
    fn parse(inner: &str, at: usize) -> Result<Self, TemplateError> {
        if inner.is_empty() {
            return Err(TemplateError::Empty(at));
        }
        if inner.starts_with('/') {
            return Ok(Placeholder::Change(inner.to_owned()));
        }
        match inner.find('/') {
            Some(slash) if slash + 1 < inner.len() => Ok(Placeholder::Resource {
                name: inner[..slash].to_owned(),
                pointer: inner[slash..].to_owned(),
            }),
            _ => Err(TemplateError::NoPointer(inner.to_owned())),
        }
    }

    /// The scalar this placeholder selects, as text; `None` when absent or not a scalar.
    fn resolve(&self, change: &Value, resources: &Map<String, Value>) -> Option<String> {
        let value = match self {
            Placeholder::Change(pointer) => change.pointer(pointer)?,
            Placeholder::Resource { name, pointer } => resources.get(name)?.pointer(pointer)?,
        };
        scalar_text(value)
    }
}

impl fmt::Display for Placeholder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Placeholder::Change(pointer) => write!(f, "{{{pointer}}}"),
            Placeholder::Resource { name, pointer } => write!(f, "{{{name}{pointer}}}"),
        }
    }
}

/// Refuses a rendered path whose segment that a value is part of is `.` or `..`, also when
/// written `%2E` (WHATWG URL parsers treat `%2e%2e` as `..` too). Only the path counts: a
/// value cannot add a `?` or `#`, so the first one is the template's.
fn refuse_dot_segments(
    rendered: &str,
    filled: &[std::ops::Range<usize>],
) -> Result<(), RenderError> {
    let path_end = rendered.find(['?', '#']).unwrap_or(rendered.len());
    let mut start = 0;
    for segment in rendered[..path_end].split('/') {
        let end = start + segment.len();
        let has_value = filled
            .iter()
            .any(|value| !value.is_empty() && value.start < end && start < value.end);
        if has_value {
            let decoded = segment.replace("%2E", ".").replace("%2e", ".");
            if decoded == "." || decoded == ".." {
                return Err(RenderError::DotSegment(segment.to_owned()));
            }
        }
        start = end + 1;
    }
    Ok(())
}

/// Text of a string or number, the only JSON values that can name a record.
pub fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(template: &str, change: Value) -> Result<String, RenderError> {
        Template::parse(template)
            .unwrap()
            .render(&change, &Map::new())
    }

    #[test]
    fn fills_pointers_from_the_change_item() {
        let out = render(
            "/patients/{/patient/id}/appts/{/n}",
            json!({"patient": {"id": "p-1"}, "n": 7}),
        );
        assert_eq!(out.unwrap(), "/patients/p-1/appts/7");
    }

    #[test]
    fn fills_pointers_from_an_earlier_enrichment_result() {
        let template = Template::parse("/patients/{appointment/patient/id}").unwrap();
        let mut resources = Map::new();
        resources.insert("appointment".into(), json!({"patient": {"id": "p-9"}}));
        assert_eq!(
            template.render(&json!({}), &resources).unwrap(),
            "/patients/p-9"
        );
    }

    #[test]
    fn percent_encodes_values_so_they_stay_one_segment() {
        let out = render("/a/{/id}", json!({"id": "x/../y?z#w %"}));
        assert_eq!(out.unwrap(), "/a/x%2F..%2Fy%3Fz%23w%20%25");
    }

    #[test]
    fn missing_or_non_scalar_values_are_errors() {
        assert_eq!(
            render("/a/{/id}", json!({})),
            Err(RenderError::Missing("{/id}".into()))
        );
        assert!(render("/a/{/id}", json!({"id": {"x": 1}})).is_err());
        assert!(render("/a/{/id}", json!({"id": ""})).is_err());
    }

    /// Found by the `template` fuzz target: `..` is one segment once encoded, but a server
    /// or proxy resolves `/patients/..` to `/`, so the value changed which record is read.
    #[test]
    fn values_that_make_a_dot_segment_are_refused() {
        for (template, id) in [
            ("/patients/{/id}", ".."),
            ("/patients/{/id}/x", "."),
            ("/patients/.{/id}", "."),
            ("/patients/%2E{/id}", "."),
            ("/patients/{/id}{/id}?q=1", "."),
        ] {
            assert!(
                matches!(
                    render(template, json!({ "id": id })),
                    Err(RenderError::DotSegment(_))
                ),
                "{template} with {id:?}"
            );
        }
        assert_eq!(
            render("/patients/{/id}", json!({"id": "..."})).unwrap(),
            "/patients/..."
        );
        assert_eq!(
            render("/p?a={/id}", json!({"id": ".."})).unwrap(),
            "/p?a=.."
        );
        assert_eq!(
            render("/../p/{/id}", json!({"id": "x"})).unwrap(),
            "/../p/x",
            "the template's own segments are the operator's choice"
        );
    }

    #[test]
    fn doubled_braces_are_literals() {
        assert_eq!(
            render("/a{{b}}/{/id}", json!({"id": 1})).unwrap(),
            "/a{b}/1"
        );
    }

    #[test]
    fn syntax_errors_are_reported() {
        assert_eq!(Template::parse("/a/{/id"), Err(TemplateError::Unclosed(3)));
        assert_eq!(Template::parse("/a/}"), Err(TemplateError::Unmatched(3)));
        assert_eq!(Template::parse("/a/{}"), Err(TemplateError::Empty(3)));
        assert!(matches!(
            Template::parse("/a/{id}"),
            Err(TemplateError::NoPointer(_))
        ));
    }

    #[test]
    fn text_rendering_fills_change_values_as_they_are() {
        let template = Template::parse("appointment.{/action}").unwrap();
        let change = json!({"action": "cancelled/at desk"});
        assert_eq!(
            template.render_text(&change).unwrap(),
            "appointment.cancelled/at desk"
        );
        assert_eq!(
            template.render_text(&json!({})),
            Err(RenderError::Missing("{/action}".into()))
        );
        let named = Template::parse("x.{appointment/status}").unwrap();
        assert!(named.render_text(&json!({})).is_err());
    }

    #[test]
    fn a_literal_template_is_its_text_even_with_braces() {
        let literal = Template::literal("appointment.{updated}");
        assert_eq!(
            literal.render_text(&json!({})).unwrap(),
            "appointment.{updated}"
        );
        assert_eq!(literal.placeholders().count(), 0);
        assert_eq!(literal.as_str(), "appointment.{updated}");
    }

    #[test]
    fn lists_placeholders_for_validation() {
        let template = Template::parse("/{/a}/{step/b}").unwrap();
        let found: Vec<_> = template.placeholders().map(ToString::to_string).collect();
        assert_eq!(found, ["{/a}", "{step/b}"]);
    }
}
