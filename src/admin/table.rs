//! `courier status` output: the `/status` JSON as two aligned tables a person reads in a
//! terminal, with colour (state words only) when asked for.

use chrono::{DateTime, Utc};
use serde_json::Value;

const RED: &str = "\x1b[31m";
const YELLOW: &str = "\x1b[33m";
const GREEN: &str = "\x1b[32m";
const RESET: &str = "\x1b[0m";

/// Renders `/status` as text; `color` adds ANSI colours to states.
pub fn render(status: &Value, color: bool) -> String {
    let now = Utc::now();
    let connections: Vec<Vec<Cell>> = entries(&status["connections"])
        .map(|(id, c)| {
            vec![
                Cell::plain(id),
                connection_state(c, now),
                Cell::plain(text(&c["cursor"])),
                Cell::plain(age(&c["last_success"], now)),
                Cell::plain(text(&c["backlog"])),
                Cell::plain(text(&c["changes"])),
                Cell::plain(error(c)),
            ]
        })
        .collect();
    let destinations: Vec<Vec<Cell>> = entries(&status["destinations"])
        .map(|(id, d)| {
            let failing = !d["last_error"].is_null();
            let state = match d["state"].as_str() {
                Some(state) => state.to_owned(),
                None if failing => "failing".to_owned(),
                None => "ok".to_owned(),
            };
            let tone = if state == "healthy" || state == "ok" {
                GREEN
            } else {
                RED
            };
            vec![
                Cell::plain(id),
                Cell::toned(state, tone),
                Cell::plain(text(&d["delivered"])),
                Cell::plain(text(&d["in_flight"])),
                Cell::plain(text(&d["failed_attempts"])),
                Cell::plain(text(&d["dead_lettered"])),
                Cell::plain(text(&d["last_error"])),
            ]
        })
        .collect();
    let mut out = table(
        &[
            "CONNECTION",
            "STATE",
            "CURSOR",
            "LAST POLL",
            "BACKLOG",
            "CHANGES",
            "ERROR",
        ],
        &connections,
        color,
    );
    out.push('\n');
    out.push_str(&table(
        &[
            "DESTINATION",
            "STATE",
            "DELIVERED",
            "IN FLIGHT",
            "FAILED",
            "DEAD",
            "ERROR",
        ],
        &destinations,
        color,
    ));
    out
}

/// One cell: its text and, optionally, a colour for terminals.
struct Cell {
    text: String,
    tone: Option<&'static str>,
}

impl Cell {
    fn plain(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            tone: None,
        }
    }

    fn toned(text: impl Into<String>, tone: &'static str) -> Self {
        Self {
            text: text.into(),
            tone: Some(tone),
        }
    }
}

fn entries(map: &Value) -> impl Iterator<Item = (&String, &Value)> {
    map.as_object().into_iter().flatten()
}

fn connection_state(c: &Value, now: DateTime<Utc>) -> Cell {
    let state = c["state"].as_str().unwrap_or("unknown");
    match state {
        "backing_off" => Cell::toned(
            format!("backing off, next {}", until(&c["until"], now)),
            YELLOW,
        ),
        "paused" => Cell::toned("paused", YELLOW),
        "restarting" | "stopped" => Cell::toned(state, RED),
        _ => Cell::toned(state, GREEN),
    }
}

fn error(c: &Value) -> String {
    match (&c["last_error"], &c["enrich_error"]) {
        (Value::String(e), _) => e.clone(),
        (_, Value::String(e)) => format!("enrich: {e}"),
        _ => "-".into(),
    }
}

/// A value as text; `-` for nothing.
fn text(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn parse(value: &Value) -> Option<DateTime<Utc>> {
    value.as_str()?.parse().ok()
}

/// "12s ago" for a past time.
fn age(value: &Value, now: DateTime<Utc>) -> String {
    parse(value).map_or("never".into(), |at| format!("{} ago", span(now - at)))
}

/// "in 3s" for a future time.
fn until(value: &Value, now: DateTime<Utc>) -> String {
    parse(value).map_or("-".into(), |at| format!("in {}", span(at - now)))
}

fn span(duration: chrono::Duration) -> String {
    let secs = duration.num_seconds().max(0);
    match secs {
        0..=119 => format!("{secs}s"),
        120..=7199 => format!("{}m", secs / 60),
        _ => format!("{}h", secs / 3600),
    }
}

/// Columns padded to their widest cell; colour codes do not count towards width.
fn table(header: &[&str], rows: &[Vec<Cell>], color: bool) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.text.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<Cell> = header.iter().map(|h| Cell::plain(*h)).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (cell, width) in row.iter().zip(&widths) {
            let pad = " ".repeat(width - cell.text.chars().count() + 2);
            match cell.tone.filter(|_| color) {
                Some(tone) => line.push_str(&format!("{tone}{}{RESET}{pad}", cell.text)),
                None => line.push_str(&format!("{}{pad}", cell.text)),
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::render;

    #[test]
    fn renders_aligned_rows_without_colour_when_not_asked() {
        let status = json!({
            "connections": {"clinic-a": {"state": "paused", "cursor": "42", "backlog": 3,
                                         "changes": 10, "last_success": null, "last_error": null}},
            "destinations": {"app": {"delivered": 7, "in_flight": 0, "failed_attempts": 1,
                                     "dead_lettered": 0, "last_error": null}}
        });
        let text = render(&status, false);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("CONNECTION  STATE"), "{text}");
        assert!(lines[1].starts_with("clinic-a    paused"), "{text}");
        assert!(lines[1].contains("never"), "{text}");
        assert!(lines[4].starts_with("app          ok"), "{text}");
        assert!(!text.contains('\x1b'), "no colour codes: {text:?}");
        assert!(render(&status, true).contains("\x1b[33mpaused\x1b[0m"));
    }
}
