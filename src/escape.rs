//! Text from outside (record keys, ids from admin requests, URLs, EHR and receiver error
//! texts) shown in a log line or a terminal, with what could forge or hide a line escaped.
//!
//! A newline in a record key or a dead-letter id would otherwise start a log line of the
//! sender's choosing, and an ANSI or bidi control could rewrite what an operator sees.
//! [`escaped`] wraps any `Display` value and writes it through with those characters as
//! `\n`, `\r`, `\t` or `\u{…}`; text that needs nothing is written as it is, without an
//! allocation, so it costs a scan on the hot path. A backslash is left alone: it cannot
//! start a line, and escaping it would make every Windows path and JSON pointer harder to read.

use std::fmt::{self, Display, Write};

/// A value shown with control and invisible formatting characters escaped; see [`escaped`].
#[derive(Debug, Clone, Copy)]
pub struct Escaped<T>(pub T);

/// `value`, to be shown in a log line with control characters, line and paragraph
/// separators, and bidirectional or zero-width formatting characters escaped.
pub fn escaped<T: Display>(value: T) -> Escaped<T> {
    Escaped(value)
}

impl<T: Display> Display for Escaped<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(Escaper(f), "{}", self.0)
    }
}

/// Passes text on to a formatter, escaping as it goes.
struct Escaper<'a, 'b>(&'a mut fmt::Formatter<'b>);

impl Write for Escaper<'_, '_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut rest = text;
        while let Some((at, c)) = rest.char_indices().find(|&(_, c)| needs_escape(c)) {
            self.0.write_str(&rest[..at])?;
            match c {
                '\n' => self.0.write_str("\\n")?,
                '\r' => self.0.write_str("\\r")?,
                '\t' => self.0.write_str("\\t")?,
                other => write!(self.0, "\\u{{{:x}}}", other as u32)?,
            }
            rest = &rest[at + c.len_utf8()..];
        }
        self.0.write_str(rest)
    }
}

/// Control characters (C0, DEL, C1), line and paragraph separators, and the formatting
/// characters that reorder or hide text (bidi overrides and isolates, zero-width marks).
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{feff}'
                | '\u{fff9}'..='\u{fffb}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(text: &str) -> String {
        escaped(text).to_string()
    }

    #[test]
    fn a_newline_cannot_start_a_forged_log_line() {
        assert_eq!(
            shown("appt-1\n2026-12-06T10:00:00Z ERROR admin token is hunter2"),
            "appt-1\\n2026-12-06T10:00:00Z ERROR admin token is hunter2"
        );
        assert_eq!(shown("a\r\nb\tc"), "a\\r\\nb\\tc");
    }

    #[test]
    fn terminal_and_invisible_controls_are_escaped() {
        assert_eq!(shown("\u{1b}[31mred\u{7}"), "\\u{1b}[31mred\\u{7}");
        assert_eq!(shown("x\u{85}y\u{2028}z"), "x\\u{85}y\\u{2028}z");
        assert_eq!(shown("id\u{202e}fdp.exe"), "id\\u{202e}fdp.exe");
        assert_eq!(
            shown("zero\u{200b}width\u{feff}"),
            "zero\\u{200b}width\\u{feff}"
        );
    }

    #[test]
    fn ordinary_text_is_shown_as_it_is() {
        for text in [
            "",
            "notif=9f3c",
            "C:\\data\\x",
            "/a~1b",
            "Ünïcødé – 日本",
            "a b",
        ] {
            assert_eq!(shown(text), text);
        }
    }

    #[test]
    fn any_display_value_is_escaped_not_only_strings() {
        let error = std::io::Error::other("bad\nline");
        assert_eq!(escaped(&error).to_string(), "bad\\nline");
        assert_eq!(format!("[{}]", escaped(42)), "[42]");
    }
}
