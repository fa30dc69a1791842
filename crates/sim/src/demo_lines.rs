//! The lines `courier demo` prints for what its receiver gets: one per request, with the
//! notification's sequence, event type and key, how many times the receiver saw that id, the
//! synthetic patient's name from the enriched record, and what the receiver answered; and,
//! once, why the lines do not arrive in sequence order.
//!
//! Only names the simulated EHR makes up are printed (see [`is_synthetic_name`]): anything
//! else in a patient's name is shown as hidden, so this printer cannot show a real person's
//! name even if the receiver were pointed at something other than the demo.

use std::collections::HashMap;

use serde_json::Value;

use super::inbox::Received;
/// Re-exported so a test of the demo's output can check a printed name the same way.
pub use super::records::is_synthetic_name;

/// Printed once, before the first line whose sequence is below one printed already.
pub const OUT_OF_ORDER: &str = "courier demo: lines arrive out of sequence order because \
    notifications of different records go out in parallel, and a retried one comes back \
    later; each record's own notifications arrive in order (per-key ordering)";

/// What the printer remembers between requests.
#[derive(Debug, Default)]
pub struct DemoLines {
    /// Requests seen per notification id: the attempt count, as the receiver sees it.
    attempts: HashMap<String, u32>,
    /// The highest sequence printed per connection, to notice a line out of order.
    highest: HashMap<String, u64>,
    /// Whether [`OUT_OF_ORDER`] was printed already.
    explained: bool,
}

impl DemoLines {
    /// The lines to print for `received`: its own, preceded by [`OUT_OF_ORDER`] the first
    /// time a sequence arrives after a higher one of its connection.
    pub fn lines(&mut self, received: &Received) -> Vec<String> {
        let data = &received.json["data"];
        let attempt = self.attempts.entry(received.id.clone()).or_default();
        *attempt += 1;
        let attempt = *attempt;
        let mut lines = Vec::with_capacity(2);
        if let (Some(connection), Some(sequence)) =
            (data["connection"].as_str(), data["sequence"].as_u64())
        {
            let highest = self.highest.entry(connection.to_owned()).or_default();
            if sequence < *highest && !self.explained {
                self.explained = true;
                lines.push(OUT_OF_ORDER.to_owned());
            }
            *highest = (*highest).max(sequence);
        }
        lines.push(line(received, attempt));
        lines
    }
}

/// `#12   appointment.cancelled    appt-3    attempt 2   patient "Alpha Testperson"  accepted`.
fn line(received: &Received, attempt: u32) -> String {
    let data = &received.json["data"];
    let sequence = format!("#{}", text(&data["sequence"]));
    let outcome = match (received.accepted(), received.verified) {
        (true, _) => "accepted".to_owned(),
        (false, true) => format!("answered {}", received.answered),
        (false, false) => format!("answered {} (bad signature)", received.answered),
    };
    format!(
        "{sequence:<6}{:<26} {:<9} attempt {attempt:<3} patient {:<22} {outcome}",
        text(&received.json["type"]),
        text(&data["key"]),
        patient(&data["resources"]["patient"]),
    )
}

/// The patient's name in quotes when it is one the simulated EHR made up; `?` when the
/// record has none (not enriched, or not found).
fn patient(resource: &Value) -> String {
    let name = &resource["name"][0];
    match (name["given"][0].as_str(), name["family"].as_str()) {
        (Some(given), Some(family)) if is_synthetic_name(given, family) => {
            format!("\"{given} {family}\"")
        }
        (Some(_), _) | (_, Some(_)) => "(hidden: not synthetic)".to_owned(),
        (None, None) => "?".to_owned(),
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "?".to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(id: &str, sequence: u64, answered: u16, patient: Value) -> Received {
        let mut request = Received::sample(id, answered, true);
        request.json = json!({
            "type": "appointment.cancelled",
            "data": {"sequence": sequence, "connection": "clinic-a", "key": "appt-3",
                     "resources": {"patient": patient}},
        });
        request
    }

    fn alpha() -> Value {
        json!({"name": [{"family": "Testperson", "given": ["Alpha"]}], "birthDate": "1970-01-01"})
    }

    #[test]
    fn a_line_shows_type_key_attempt_synthetic_name_and_answer() {
        let mut lines = DemoLines::default();
        let first = lines.lines(&request("msg_1", 12, 503, alpha()));
        let second = lines.lines(&request("msg_1", 12, 200, alpha()));
        let words = |line: &str| {
            line.split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            words(&first[0]),
            [
                "#12",
                "appointment.cancelled",
                "appt-3",
                "attempt",
                "1",
                "patient",
                "\"Alpha",
                "Testperson\"",
                "answered",
                "503"
            ]
        );
        assert_eq!(
            words(&second[0]),
            [
                "#12",
                "appointment.cancelled",
                "appt-3",
                "attempt",
                "2",
                "patient",
                "\"Alpha",
                "Testperson\"",
                "accepted"
            ]
        );
        assert!(!first[0].contains("1970"), "nothing but the name");
    }

    #[test]
    fn a_name_the_sim_did_not_make_up_is_never_printed() {
        let mut lines = DemoLines::default();
        let real = json!({"name": [{"family": "Lovelace", "given": ["Ada"]}]});
        let line = lines.lines(&request("msg_1", 1, 200, real)).remove(0);
        assert!(line.contains("(hidden: not synthetic)"), "{line}");
        assert!(
            !line.contains("Lovelace") && !line.contains("Ada"),
            "{line}"
        );
        let none = lines
            .lines(&request("msg_2", 2, 200, Value::Null))
            .remove(0);
        assert!(none.contains("patient ?"), "{none}");
    }

    #[test]
    fn the_first_line_out_of_sequence_order_is_explained_once() {
        let mut lines = DemoLines::default();
        assert_eq!(lines.lines(&request("a", 1, 200, alpha())).len(), 1);
        assert_eq!(lines.lines(&request("c", 3, 200, alpha())).len(), 1);
        let late = lines.lines(&request("b", 2, 200, alpha()));
        assert_eq!(late.len(), 2);
        assert_eq!(late[0], OUT_OF_ORDER);
        assert!(late[1].starts_with("#2 "), "{}", late[1]);
        assert_eq!(
            lines.lines(&request("b0", 1, 200, alpha())).len(),
            1,
            "once"
        );
    }

    #[test]
    fn an_unsigned_request_says_so() {
        let mut lines = DemoLines::default();
        let mut forged = request("x", 1, 401, alpha());
        forged.verified = false;
        let line = lines.lines(&forged).remove(0);
        assert!(line.ends_with("answered 401 (bad signature)"), "{line}");
    }
}
