//! `courier status` output: the `/status` JSON as two aligned tables a person reads in a
//! terminal, with colour (state words only) when asked for. A connection's warnings (lasting
//! conditions that do not stop it, such as deletions it cannot read) follow its table, one
//! per line: too long for a column, and too important to leave to `--json`. A clustered
//! instance's status starts with the cluster block ([`cluster`]).

mod cluster;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::escape::escaped;

const RED: &str = "\x1b[31m";
const YELLOW: &str = "\x1b[33m";
const GREEN: &str = "\x1b[32m";
const RESET: &str = "\x1b[0m";

/// Headers of the connections table.
const CONNECTION_COLUMNS: [&str; 7] = [
    "CONNECTION",
    "STATE",
    "CURSOR",
    "LAST POLL",
    "BACKLOG",
    "CHANGES",
    "ERROR",
];
/// Headers of the destinations table.
const DESTINATION_COLUMNS: [&str; 9] = [
    "DESTINATION",
    "STATE",
    "BACKLOG",
    "OLDEST",
    "DELIVERED",
    "IN FLIGHT",
    "FAILED",
    "DEAD",
    "ERROR",
];

/// Renders `/status` as text; `color` adds ANSI colours to states.
pub fn render(status: &Value, color: bool) -> String {
    let now = Utc::now();
    let connections: Vec<Vec<Cell>> = entries(&status["connections"])
        .map(|(id, c)| connection_row(id, c, now))
        .collect();
    let destinations: Vec<Vec<Cell>> = entries(&status["destinations"])
        .map(|(id, d)| destination_row(id, d))
        .collect();
    let mut out = store_line(&status["store"], color);
    if !status["cluster"].is_null() {
        out.push_str(&cluster::block(&status["cluster"], color));
    }
    out.push_str(&table(&CONNECTION_COLUMNS, &connections, color));
    out.push_str(&warnings(&status["connections"], color));
    out.push('\n');
    out.push_str(&table(&DESTINATION_COLUMNS, &destinations, color));
    out
}

/// `WARNINGS` and one `connection: warning` line per warning, or nothing when there is none.
fn warnings(connections: &Value, color: bool) -> String {
    let lines: Vec<String> = entries(connections)
        .flat_map(|(id, c)| {
            let list = c["warnings"].as_array().map(Vec::as_slice);
            list.unwrap_or_default()
                .iter()
                .map(move |w| format!("{id}: {}", text(w)))
        })
        .collect();
    if lines.is_empty() {
        return String::new();
    }
    let header = match color {
        true => format!("{YELLOW}WARNINGS{RESET}"),
        false => "WARNINGS".to_owned(),
    };
    format!("\n{header}\n{}\n", lines.join("\n"))
}

fn connection_row(id: &str, c: &Value, now: DateTime<Utc>) -> Vec<Cell> {
    vec![
        Cell::plain(id),
        connection_state(c, now),
        Cell::plain(text(&c["cursor"])),
        Cell::plain(age(&c["last_success"], now)),
        Cell::plain(backlog(&c["backlog"])),
        Cell::plain(text(&c["changes"])),
        Cell::plain(error(c)),
    ]
}

/// A destination's row; its `state` is shown when the API reports one, else derived from
/// whether it has an error. The error column says why it is paused when it is.
fn destination_row(id: &str, d: &Value) -> Vec<Cell> {
    let state = match d["state"].as_str() {
        Some(state) => state.to_owned(),
        None if !d["last_error"].is_null() => "failing".to_owned(),
        None => "ok".to_owned(),
    };
    let tone = match state.as_str() {
        "healthy" | "ok" => GREEN,
        "paused" => YELLOW,
        _ => RED,
    };
    let oldest = d["oldest_pending_age_secs"]
        .as_f64()
        .map_or("-".into(), |secs| {
            span(chrono::Duration::seconds(secs as i64))
        });
    let error = match (&d["last_error"], &d["state_reason"]) {
        (Value::String(e), _) => e.clone(),
        (_, reason) => text(reason),
    };
    vec![
        Cell::plain(id),
        Cell::toned(state, tone),
        Cell::plain(backlog(&d["backlog"])),
        Cell::plain(oldest),
        Cell::plain(text(&d["delivered"])),
        Cell::plain(text(&d["in_flight"])),
        Cell::plain(text(&d["failed_attempts"])),
        Cell::plain(text(&d["dead_lettered"])),
        Cell::plain(error),
    ]
}

/// One cell: its text and, optionally, a colour for terminals.
struct Cell {
    /// Escaped: a newline or an ANSI sequence in an error text from outside must neither
    /// break the table nor reach the terminal.
    text: String,
    tone: Option<&'static str>,
}

impl Cell {
    fn plain(text: impl Into<String>) -> Self {
        Self {
            text: escaped(text.into()).to_string(),
            tone: None,
        }
    }

    fn toned(text: impl Into<String>, tone: &'static str) -> Self {
        Self {
            tone: Some(tone),
            ..Self::plain(text)
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
/// A line above the tables while the store is out of service (a full disk): everything
/// below is then as of the fault, and backlogs are unknown.
fn store_line(store: &Value, color: bool) -> String {
    let fault = &store["fault"];
    if fault.is_null() {
        return String::new();
    }
    let word = if color {
        format!("{RED}out of service{RESET}")
    } else {
        "out of service".to_owned()
    };
    let mut line = format!(
        "STORE {word} since {}: {}",
        text(&fault["since"]),
        text(&fault["error"])
    );
    if let Some(attempts) = fault["reopen_attempts"].as_u64().filter(|n| *n > 0) {
        line.push_str(&format!(" ({attempts} re-opens tried"));
        if let Value::String(last) = &fault["last_reopen_error"] {
            line.push_str(&format!(", last: {last}"));
        }
        line.push(')');
    }
    line.push_str("\n\n");
    line
}

/// A backlog the store could not read is unknown, not none.
fn backlog(value: &Value) -> String {
    match value {
        Value::Null => "unknown".into(),
        other => text(other),
    }
}

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

    /// Issue 12: warnings were only in `--json`, so a connection whose deletions went unseen
    /// looked healthy in the table.
    #[test]
    fn a_connections_warnings_follow_its_table() {
        let warning = "the server's /metadata does not declare history-type for Appointment";
        let status = json!({
            "connections": {"hospital-b": {"state": "idle", "warnings": [warning]},
                            "clinic-a": {"state": "idle"}},
            "destinations": {"app": {"delivered": 0}}
        });
        let text = render(&status, false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[3], "", "{text}");
        assert_eq!(lines[4], "WARNINGS", "{text}");
        assert_eq!(lines[5], format!("hospital-b: {warning}"), "{text}");
        assert!(lines[7].starts_with("DESTINATION"), "{text}");
        let quiet = json!({"connections": {"clinic-a": {"state": "idle"}}, "destinations": {}});
        assert!(!render(&quiet, false).contains("WARNINGS"));
    }

    #[test]
    fn a_paused_destination_shows_its_state_backlog_oldest_age_and_reason() {
        let status = json!({
            "connections": {},
            "destinations": {"app": {"state": "paused", "state_reason": "410 Gone",
                                     "backlog": 12, "oldest_pending_age_secs": 185.4,
                                     "delivered": 7, "in_flight": 0, "failed_attempts": 1,
                                     "dead_lettered": 0, "last_error": null}}
        });
        let text = render(&status, false);
        let row = text
            .lines()
            .find(|l| l.starts_with("app"))
            .expect("a row for app");
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(&cells[..5], ["app", "paused", "12", "3m", "7"], "{text}");
        assert!(row.ends_with("410 Gone"), "{text}");
        assert!(text.contains("BACKLOG  OLDEST"), "{text}");
        assert!(render(&status, true).contains("\x1b[33mpaused\x1b[0m"));
    }

    #[test]
    fn an_error_text_from_outside_stays_on_its_row_and_out_of_the_terminal() {
        let status = json!({
            "connections": {"clinic-a": {"state": "backing_off", "cursor": null,
                                         "last_error": "key appt-1\nclinic-b ok\u{1b}[2J"}},
            "destinations": {}
        });
        let text = render(&status, false);
        let row = text.lines().nth(1).expect("a row for clinic-a");
        assert!(
            row.ends_with("key appt-1\\nclinic-b ok\\u{1b}[2J"),
            "{text}"
        );
        assert!(!text.contains('\x1b'), "{text:?}");
        assert_eq!(text.lines().count(), 4, "{text}");
    }
}
