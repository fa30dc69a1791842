//! The simulated FHIR server's date search: `Appointment?date=ge…&date=le…` compares the
//! appointment's `start` with a date (`2026-12-06`, the whole day) or an instant (the second,
//! or the millisecond when it has a fraction), with the prefixes ge gt le lt eq and FHIR's
//! range semantics (`gt2026-12-06` is after that whole day), as a server without
//! `_lastUpdated` (Epic's) lists a schedule.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::Value;

/// The element each searchable type's `date` parameter reads, as FHIR R4 defines it.
fn date_element(type_name: &str) -> Option<&'static str> {
    match type_name {
        "Appointment" => Some("start"),
        _ => None,
    }
}

/// Whether `resource` (of `type_name`) matches every `date` parameter of `params`; a type
/// without a `date` parameter, or a value that is not a date, is an error (a real server
/// answers 400).
pub fn matches(
    type_name: &str,
    resource: &Value,
    params: &[(String, String)],
) -> Result<bool, String> {
    let mut all = true;
    for (_, value) in params.iter().filter(|(k, _)| k == "date") {
        let element = date_element(type_name).ok_or("no date parameter on this type")?;
        let (prefix, (lo, hi)) = bound(value)?;
        let at = resource[element]
            .as_str()
            .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
            .map(|t| t.with_timezone(&Utc));
        // A resource without the element matches no date search.
        all &= at.is_some_and(|at| match prefix {
            "ge" => at >= lo,
            "gt" => at >= hi,
            "le" => at < hi,
            "lt" => at < lo,
            _ => lo <= at && at < hi,
        });
    }
    Ok(all)
}

/// The span a date search value names, `[lo, hi)`.
type Span = (DateTime<Utc>, DateTime<Utc>);

/// A date search value: its prefix (`eq` when none) and the span it names.
fn bound(value: &str) -> Result<(&str, Span), String> {
    let (prefix, text) = match value.get(..2) {
        Some(p @ ("ge" | "gt" | "le" | "lt" | "eq")) => (p, &value[2..]),
        _ => ("eq", value),
    };
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let lo = day.and_hms_opt(0, 0, 0).ok_or("a day")?.and_utc();
        return Ok((prefix, (lo, lo + Duration::days(1))));
    }
    let at = DateTime::parse_from_rfc3339(text)
        .map_err(|_| "a date search value is a date or an RFC 3339 instant".to_owned())?
        .with_timezone(&Utc);
    let precision = match text.contains('.') {
        true => Duration::milliseconds(1),
        false => Duration::seconds(1),
    };
    Ok((prefix, (at, at + precision)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(values: &[&str]) -> Vec<(String, String)> {
        values
            .iter()
            .map(|v| ("date".into(), (*v).into()))
            .collect()
    }

    #[test]
    fn a_date_bound_covers_its_whole_day_and_an_instant_its_second() {
        let appointment = json!({"resourceType": "Appointment", "start": "2026-12-06T23:30:00Z"});
        let holds = |values: &[&str]| matches("Appointment", &appointment, &params(values));
        assert_eq!(holds(&["ge2026-12-06", "le2026-12-06"]), Ok(true));
        assert_eq!(holds(&["gt2026-12-06"]), Ok(false));
        assert_eq!(holds(&["lt2026-12-07"]), Ok(true));
        assert_eq!(holds(&["lt2026-12-06"]), Ok(false));
        assert_eq!(holds(&["2026-12-06"]), Ok(true));
        assert_eq!(holds(&["ge2026-12-06T23:30:00Z"]), Ok(true));
        assert_eq!(holds(&["gt2026-12-06T23:30:00Z"]), Ok(false));
        assert_eq!(holds(&["le2026-12-06T23:29:59.999Z"]), Ok(false));
        assert!(holds(&["ge6 Dec"]).is_err());
        let patient = json!({"resourceType": "Patient"});
        assert!(matches("Patient", &patient, &params(&["ge2026-12-06"])).is_err());
    }
}
