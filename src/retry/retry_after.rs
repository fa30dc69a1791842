//! `Retry-After`: how long a server asked us to wait, in either of its two forms.

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};

/// Reads a `Retry-After` header value (RFC 9110 §10.2.3): either delay-seconds or an HTTP-date,
/// relative to `now`. A date in the past means "retry now" (zero); anything unreadable is `None`
/// so the caller falls back to its own schedule rather than guessing.
///
/// All three HTTP-date forms are accepted, as the RFC requires of recipients: IMF-fixdate
/// (`Sun, 06 Nov 1994 08:49:37 GMT`), the obsolete RFC 850 form
/// (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime (`Sun Nov  6 08:49:37 1994`).
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse().ok().map(Duration::from_secs);
    }
    let at = parse_http_date(value)?;
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// Parses any of the three HTTP-date forms into UTC.
fn parse_http_date(value: &str) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc2822(value) {
        return Some(at.with_timezone(&Utc));
    }
    ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(value, format).ok())
        .map(|naive| naive.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn now() -> DateTime<Utc> {
        "1994-11-06T08:49:00Z".parse().unwrap()
    }

    #[test]
    fn retry_after_reads_delay_seconds() {
        assert_eq!(parse_retry_after("120", now()), Some(secs(120)));
        assert_eq!(parse_retry_after(" 0 ", now()), Some(secs(0)));
        assert_eq!(parse_retry_after("-5", now()), None);
        assert_eq!(parse_retry_after("1.5", now()), None);
        assert_eq!(parse_retry_after("", now()), None);
        assert_eq!(parse_retry_after("soon", now()), None);
    }

    #[test]
    fn retry_after_reads_every_http_date_form() {
        for value in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(parse_retry_after(value, now()), Some(secs(37)), "{value}");
        }
    }

    #[test]
    fn retry_after_date_in_the_past_means_now() {
        assert_eq!(
            parse_retry_after("Sat, 05 Nov 1994 08:49:37 GMT", now()),
            Some(Duration::ZERO)
        );
    }
}
