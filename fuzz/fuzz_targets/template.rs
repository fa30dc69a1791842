//! Arbitrary template text, parsed, then rendered against an arbitrary JSON value (the change
//! item, whose top-level members also serve as the earlier enrichment results). Values must
//! stay one path segment: the rendered path has exactly the `/`, `?` and `#` of the
//! template's literal text, and no segment filled from a value is a dot segment (`.` or
//! `..`, which a server or proxy resolves to another path).
//!
//! Input: template text, a 0 byte, JSON text.
#![no_main]

use courier::template::{Placeholder, Template};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

/// A change and results in which every placeholder of `template` selects the text `x`;
/// `None` when two placeholders need incompatible shapes (`/a` and `/a/b`).
fn neutral(template: &Template) -> Option<(Value, Map<String, Value>)> {
    let mut change = Value::Object(Map::new());
    let mut resources = Map::new();
    for placeholder in template.placeholders() {
        match placeholder {
            Placeholder::Change(pointer) => set(&mut change, pointer)?,
            Placeholder::Resource { name, pointer } => {
                let result = resources
                    .entry(name.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                set(result, pointer)?;
            }
        }
    }
    Some((change, resources))
}

/// Makes `pointer` select `"x"` in `root`, creating objects on the way.
fn set(root: &mut Value, pointer: &str) -> Option<()> {
    let mut node = root;
    let tokens: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect();
    let (last, path) = tokens.split_last()?;
    for token in path {
        node = node
            .as_object_mut()?
            .entry(token.clone())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    match node
        .as_object_mut()?
        .insert(last.clone(), Value::String("x".into()))
    {
        Some(Value::String(_)) | None => Some(()),
        Some(_) => None,
    }
}

fn count_structural(text: &str) -> usize {
    text.bytes()
        .filter(|b| matches!(b, b'/' | b'?' | b'#'))
        .count()
}

fn is_dot_segment(segment: &str) -> bool {
    let decoded = segment.replace("%2E", ".").replace("%2e", ".");
    decoded == "." || decoded == ".."
}

fuzz_target!(|data: &[u8]| {
    let (text, json) = match data.iter().position(|b| *b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &b""[..]),
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let Ok(template) = Template::parse(text) else {
        return;
    };
    assert_eq!(template.as_str(), text);
    let change: Value = serde_json::from_slice(json).unwrap_or(Value::Null);
    let resources = change.as_object().cloned().unwrap_or_default();
    let Ok(rendered) = template.render(&change, &resources) else {
        return;
    };
    let Some((neutral_change, neutral_resources)) = neutral(&template) else {
        return;
    };
    let reference = template
        .render(&neutral_change, &neutral_resources)
        .expect("every placeholder selects a value");
    assert_eq!(
        count_structural(&rendered),
        count_structural(&reference),
        "a value added a '/', '?' or '#': {text:?} rendered {rendered:?}"
    );
    // Same structure, so path segments line up; one that differs was filled from a value.
    // Only the path (up to the template's first `?` or `#`) has dot segments.
    let path = |text: &str| text[..text.find(['?', '#']).unwrap_or(text.len())].to_owned();
    let (rendered_path, reference_path) = (path(&rendered), path(&reference));
    let ours = rendered_path.split('/');
    let theirs = reference_path.split('/');
    for (segment, literal) in ours.zip(theirs) {
        if segment != literal {
            assert!(
                !is_dot_segment(segment),
                "a value made the dot segment {segment:?}: {text:?} rendered {rendered:?}"
            );
        }
    }
});
