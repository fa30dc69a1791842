//! The cluster block of `courier status`, above this instance's own tables when `/status` has
//! a `cluster` object: a summary line, a line per member running another configuration and
//! for a failed lease renewal, the members, and every connection's owner and lease expiry.

use serde_json::Value;

use super::{span, table, text, Cell, GREEN, RED, RESET, YELLOW};
use crate::cluster::mismatch::short;

/// Headers of the members table.
const MEMBER_COLUMNS: [&str; 5] = ["MEMBER", "LIVE", "HEARTBEAT", "CONFIG", "ADMIN"];
/// Headers of the leases table.
const LEASE_COLUMNS: [&str; 4] = ["CONNECTION", "OWNER", "EPOCH", "LEASE EXPIRES"];

/// The block for `cluster`, ending with a blank line and the heading of this instance's work.
pub(super) fn block(cluster: &Value, color: bool) -> String {
    let me = text(&cluster["instance"]);
    let members: Vec<Vec<Cell>> = entries_of(&cluster["members"])
        .map(|m| member_row(m, &me))
        .collect();
    let leases: Vec<Vec<Cell>> = entries_of(&cluster["leases"]).map(lease_row).collect();
    let mut out = summary(cluster, &me);
    out.push_str(&alerts(cluster, color));
    out.push('\n');
    out.push_str(&table(&MEMBER_COLUMNS, &members, color));
    out.push('\n');
    out.push_str(&table(&LEASE_COLUMNS, &leases, color));
    let heading = Cell::plain(format!("THIS INSTANCE ({me})"));
    out.push_str(&format!("\n{}\n", heading.text));
    out
}

/// `CLUSTER node-1: 3 members, 2 live; holds 4 leases (2 taken over, 1 lost); renewed 1s ago`.
fn summary(cluster: &Value, me: &str) -> String {
    let members = entries_of(&cluster["members"]).count();
    let live = entries_of(&cluster["members"])
        .filter(|m| m["live"] == true)
        .count();
    let counters = &cluster["counters"];
    let renewed = match cluster["renewed_at"].as_str() {
        Some(at) => match at.parse::<chrono::DateTime<chrono::Utc>>() {
            Ok(at) => format!("renewed {} ago", span(chrono::Utc::now() - at)),
            Err(_) => format!("renewed at {at}"),
        },
        None => "not renewed yet".to_owned(),
    };
    let line = format!(
        "CLUSTER {me}: {members} members, {live} live; holds {} leases ({} taken over, {} lost); {renewed}",
        text(&counters["leases_held"]),
        text(&counters["takeovers"]),
        text(&counters["lease_losses"]),
    );
    format!("{}\n", Cell::plain(line).text)
}

/// One line per live member running another configuration, and one for a failed renewal.
fn alerts(cluster: &Value, color: bool) -> String {
    let tone = |word: &str| match color {
        true => format!("{RED}{word}{RESET}"),
        false => word.to_owned(),
    };
    let mut out = String::new();
    let mine = short(&text(&cluster["config_hash"]));
    for name in entries_of(&cluster["config_mismatch"]) {
        let name = text(name);
        let hash = entries_of(&cluster["members"])
            .find(|m| text(&m["instance"]) == name)
            .map_or("-".into(), |m| short(&text(&m["config_hash"])));
        let line = format!(
            "{name} runs another configuration (hash {hash}, this instance {mine}): its connections poll with other settings"
        );
        out.push_str(&format!(
            "{} {}\n",
            tone("DIFFERENT CONFIG"),
            Cell::plain(line).text
        ));
    }
    if let Value::String(error) = &cluster["last_error"] {
        let line = format!("the last renewal failed: {error}");
        out.push_str(&format!("{} {}\n", tone("LEASES"), Cell::plain(line).text));
    }
    out
}

fn member_row(m: &Value, me: &str) -> Vec<Cell> {
    let name = text(&m["instance"]);
    let name = match name == me {
        true => format!("{name} (this)"),
        false => name,
    };
    let live = match m["live"] == true {
        true => Cell::toned("yes", GREEN),
        false => Cell::toned("gone", YELLOW),
    };
    let config = match m["same_config"] == false {
        true => Cell::toned("DIFFERENT CONFIG", RED),
        false => Cell::plain("same"),
    };
    vec![
        Cell::plain(name),
        live,
        Cell::plain(ago(&m["heartbeat_age_secs"])),
        config,
        Cell::plain(text(&m["admin_url"])),
    ]
}

fn lease_row(l: &Value) -> Vec<Cell> {
    let expires = match (&l["owner"], l["expires_in_secs"].as_f64()) {
        (Value::Null, _) | (_, None) => "-".to_owned(),
        (_, Some(secs)) if secs < 0.0 => format!("lapsed {} ago", whole(-secs)),
        (_, Some(secs)) => format!("in {}", whole(secs)),
    };
    vec![
        Cell::plain(text(&l["connection"])),
        Cell::plain(text(&l["owner"])),
        Cell::plain(text(&l["epoch"])),
        Cell::plain(expires),
    ]
}

/// The items of a JSON array; none for anything else.
fn entries_of(list: &Value) -> impl Iterator<Item = &Value> {
    list.as_array().into_iter().flatten()
}

/// An age in seconds as "3s ago"; `-` when absent.
fn ago(value: &Value) -> String {
    value
        .as_f64()
        .map_or("-".into(), |secs| format!("{} ago", whole(secs)))
}

fn whole(secs: f64) -> String {
    span(chrono::Duration::seconds(secs.round() as i64))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::render;

    fn clustered() -> serde_json::Value {
        json!({
            "connections": {"clinic-a": {"state": "idle", "cursor": "42", "backlog": 0,
                                         "changes": 3, "last_success": null, "last_error": null}},
            "destinations": {"app": {"delivered": 3}},
            "cluster": {
                "instance": "node-1", "config_hash": "aaaaaaaaaaaaaaaa",
                "renewed_at": chrono::Utc::now(), "last_error": null,
                "counters": {"leases_held": 1, "lease_losses": 0, "takeovers": 2},
                "members": [
                    {"instance": "node-1", "live": true, "heartbeat_age_secs": 0.4,
                     "config_hash": "aaaaaaaaaaaaaaaa", "same_config": true,
                     "admin_url": "http://10.0.0.5:9464"},
                    {"instance": "node-2", "live": true, "heartbeat_age_secs": 2.6,
                     "config_hash": "bbbbbbbbbbbbbbbb", "same_config": false, "admin_url": null},
                    {"instance": "node-3", "live": false, "heartbeat_age_secs": 95.0,
                     "config_hash": "aaaaaaaaaaaaaaaa", "same_config": true, "admin_url": null}
                ],
                "leases": [
                    {"connection": "clinic-a", "owner": "node-1", "here": true, "epoch": 3,
                     "expires_in_secs": 7.2},
                    {"connection": "clinic-b", "owner": "node-2", "here": false, "epoch": 9,
                     "expires_in_secs": -1.6},
                    {"connection": "clinic-c", "owner": null, "here": false, "epoch": 4,
                     "expires_in_secs": -30.0}
                ],
                "config_mismatch": ["node-2"]
            }
        })
    }

    #[test]
    fn the_cluster_block_shows_members_owners_expiries_and_the_mismatch() {
        let text = render(&clustered(), false);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with(
                "CLUSTER node-1: 3 members, 2 live; holds 1 leases (2 taken over, 0 lost); renewed"
            ),
            "{text}"
        );
        assert_eq!(
            lines[1],
            "DIFFERENT CONFIG node-2 runs another configuration (hash bbbbbbbbbbbb, \
             this instance aaaaaaaaaaaa): its connections poll with other settings"
        );
        let row = |start: &str| -> Vec<&str> {
            let line = lines.iter().find(|l| l.starts_with(start));
            line.unwrap_or_else(|| panic!("no {start} row in {text}"))
                .split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect()
        };
        assert_eq!(
            row("node-1"),
            [
                "node-1 (this)",
                "yes",
                "0s ago",
                "same",
                "http://10.0.0.5:9464"
            ]
        );
        assert_eq!(
            row("node-2"),
            ["node-2", "yes", "3s ago", "DIFFERENT CONFIG", "-"]
        );
        assert_eq!(row("node-3"), ["node-3", "gone", "95s ago", "same", "-"]);
        assert_eq!(
            row("clinic-b"),
            ["clinic-b", "node-2", "9", "lapsed 2s ago"]
        );
        assert_eq!(row("clinic-c"), ["clinic-c", "-", "4", "-"]);
        let this = lines.iter().position(|l| *l == "THIS INSTANCE (node-1)");
        let this = this.unwrap_or_else(|| panic!("no heading of this instance's work: {text}"));
        assert!(lines[this + 1].starts_with("CONNECTION  STATE"), "{text}");
        let leases = row("clinic-a");
        assert_eq!(leases, ["clinic-a", "node-1", "3", "in 7s"], "{text}");
    }

    #[test]
    fn a_failed_renewal_is_a_line_of_its_own_and_colours_only_when_asked() {
        let mut status = clustered();
        status["cluster"]["last_error"] = json!("store: database: connection refused");
        let text = render(&status, false);
        assert_eq!(
            text.lines().nth(2),
            Some("LEASES the last renewal failed: store: database: connection refused"),
            "{text}"
        );
        assert!(!text.contains('\x1b'), "{text:?}");
        let colored = render(&status, true);
        assert!(colored.contains("\x1b[31mDIFFERENT CONFIG\x1b[0m node-2"));
        assert!(colored.contains("\x1b[31mLEASES\x1b[0m the last"));
    }

    #[test]
    fn without_a_cluster_the_output_has_no_cluster_block() {
        let mut status = clustered();
        status.as_object_mut().unwrap().remove("cluster");
        let text = render(&status, false);
        assert!(text.starts_with("CONNECTION  STATE"), "{text}");
        assert!(
            !text.contains("CLUSTER") && !text.contains("THIS INSTANCE"),
            "{text}"
        );
    }
}
