//! Time windows relative to the moment of a poll, for sources that list "the appointments of
//! the next two weeks" instead of answering what changed: `now-1d`, `today+14d`.
//!
//! An expression is `now` or `today` (midnight UTC of the current day), optionally followed
//! by `+` or `-`, a whole number and a unit (`s`, `m`, `h`, `d`). A query template holds
//! expressions in braces (`from={now-1d}&to={today+14d}`); each renders in the template's
//! date format, or by default `today…` as `YYYY-MM-DD` and `now…` as RFC 3339 in whole
//! seconds, UTC. Pure, and imports nothing of the crate.

use std::fmt;

use chrono::{DateTime, Duration, NaiveTime, SecondsFormat, Utc};

/// What an expression counts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    /// The moment of the poll.
    Now,
    /// Midnight UTC of the poll's day.
    Today,
}

/// A moment relative to the poll: `base` plus `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeExpr {
    /// What it counts from.
    pub base: Base,
    /// How far from it (negative: before).
    pub offset: Duration,
}

impl TimeExpr {
    /// Parses `now`, `today`, `now-1d`, `today+14d`, `now-30m`; `Err` says what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (base, rest) = if let Some(rest) = text.strip_prefix("today") {
            (Base::Today, rest)
        } else if let Some(rest) = text.strip_prefix("now") {
            (Base::Now, rest)
        } else {
            return Err(format!(
                "{text:?} is not a time expression (`now` or `today`, optionally +/- a number \
                 and a unit s, m, h or d, such as `now-1d` or `today+14d`)"
            ));
        };
        if rest.is_empty() {
            return Ok(Self {
                base,
                offset: Duration::zero(),
            });
        }
        let sign = match rest.as_bytes()[0] {
            b'+' => 1,
            b'-' => -1,
            _ => return Err(format!("{text:?}: expected + or - after {:?}", base.name())),
        };
        let amount = &rest[1..];
        let (number, unit) = amount.split_at(amount.len().saturating_sub(1));
        let number: i64 = number
            .parse()
            .ok()
            .filter(|n| (0..=100_000).contains(n))
            .ok_or_else(|| format!("{text:?}: expected a whole number from 0 to 100000"))?;
        let offset = match unit {
            "s" => Duration::seconds(number),
            "m" => Duration::minutes(number),
            "h" => Duration::hours(number),
            "d" => Duration::days(number),
            _ => return Err(format!("{text:?}: the unit must be s, m, h or d")),
        };
        Ok(Self {
            base,
            offset: offset * sign,
        })
    }

    /// The moment this names at `now`.
    pub fn at(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let base = match self.base {
            Base::Now => now,
            Base::Today => now.date_naive().and_time(NaiveTime::MIN).and_utc(),
        };
        base + self.offset
    }

    /// The moment at `now`, written in `format` (chrono's strftime syntax), or by default as
    /// the base suggests: a date for `today…`, RFC 3339 for `now…`.
    pub fn render(&self, now: DateTime<Utc>, format: Option<&str>) -> String {
        let at = self.at(now);
        match (format, self.base) {
            (Some(format), _) => at.format(format).to_string(),
            (None, Base::Today) => at.format("%Y-%m-%d").to_string(),
            (None, Base::Now) => at.to_rfc3339_opts(SecondsFormat::Secs, true),
        }
    }
}

impl Base {
    fn name(self) -> &'static str {
        match self {
            Base::Now => "now",
            Base::Today => "today",
        }
    }
}

impl fmt::Display for TimeExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.base.name())?;
        let seconds = self.offset.num_seconds();
        if seconds != 0 {
            let sign = if seconds < 0 { '-' } else { '+' };
            let seconds = seconds.abs();
            let (n, unit) = [(86_400, 'd'), (3_600, 'h'), (60, 'm'), (1, 's')]
                .into_iter()
                .find(|(size, _)| seconds % size == 0)
                .map(|(size, unit)| (seconds / size, unit))
                .unwrap_or((seconds, 's'));
            write!(f, "{sign}{n}{unit}")?;
        }
        Ok(())
    }
}

/// The span a listing covers, from `start` (inclusive) to `end` (exclusive), relative to the
/// poll: what tells a record that was removed (its date is still inside) from one that only
/// left the window because time passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Where the window starts.
    pub start: TimeExpr,
    /// Where it ends.
    pub end: TimeExpr,
}

impl Window {
    /// The window's bounds at `now`, as Unix seconds: `[start, end)`.
    pub fn bounds(&self, now: DateTime<Utc>) -> (i64, i64) {
        (self.start.at(now).timestamp(), self.end.at(now).timestamp())
    }
}

/// A query (or path) with time expressions in braces: `from={now-1d}&to={today+14d}`.
/// `{{` and `}}` are literal braces. Parsed at load, so rendering cannot fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeTemplate {
    source: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Time(TimeExpr),
}

impl TimeTemplate {
    /// Parses `text`; `Err` says which expression is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let expr: String = chars.by_ref().take_while(|c| *c != '}').collect();
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Time(TimeExpr::parse(&expr)?));
                }
                '}' => return Err("a lone \"}\" (write \"}}\" for a literal brace)".into()),
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(Self {
            source: text.to_owned(),
            parts,
        })
    }

    /// The text at `now`, each expression written in `format` (see [`TimeExpr::render`]).
    pub fn render(&self, now: DateTime<Utc>, format: Option<&str>) -> String {
        self.parts
            .iter()
            .map(|part| match part {
                Part::Literal(text) => text.clone(),
                Part::Time(expr) => expr.render(now, format),
            })
            .collect()
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-12-06T17:30:45Z".parse().unwrap()
    }

    #[test]
    fn expressions_name_moments_relative_to_the_poll() {
        let at = |text: &str| TimeExpr::parse(text).unwrap().at(now()).to_rfc3339();
        assert_eq!(at("now"), "2026-12-06T17:30:45+00:00");
        assert_eq!(at("now-1d"), "2026-12-05T17:30:45+00:00");
        assert_eq!(at("now+30m"), "2026-12-06T18:00:45+00:00");
        assert_eq!(at("today"), "2026-12-06T00:00:00+00:00");
        assert_eq!(at("today+14d"), "2026-12-20T00:00:00+00:00");
        assert_eq!(at(" today-1d "), "2026-12-05T00:00:00+00:00");
    }

    #[test]
    fn a_malformed_expression_says_what_is_wrong() {
        for (text, says) in [
            ("yesterday", "not a time expression"),
            ("now*2d", "expected + or -"),
            ("now+2w", "unit must be"),
            ("now+", "whole number"),
            ("now+-3d", "whole number"),
        ] {
            let err = TimeExpr::parse(text).unwrap_err();
            assert!(err.contains(says), "{text}: {err}");
        }
    }

    #[test]
    fn an_expression_prints_as_it_parses() {
        for text in ["now", "today+14d", "now-90m", "now+36h", "now-7s"] {
            assert_eq!(TimeExpr::parse(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn a_template_renders_each_expression_in_its_format() {
        let template = TimeTemplate::parse("from={today-1d}&to={now+14d}&x={{y}}").unwrap();
        assert_eq!(
            template.render(now(), None),
            "from=2026-12-05&to=2026-12-20T17:30:45Z&x={y}"
        );
        assert_eq!(
            template.render(now(), Some("%m/%d/%Y")),
            "from=12/05/2026&to=12/20/2026&x={y}"
        );
        assert!(TimeTemplate::parse("a={later}").is_err());
        assert!(TimeTemplate::parse("a=}").is_err());
    }

    #[test]
    fn a_window_is_bounded_by_its_two_expressions() {
        let window = Window {
            start: TimeExpr::parse("today-1d").unwrap(),
            end: TimeExpr::parse("today+15d").unwrap(),
        };
        let (start, end) = window.bounds(now());
        assert_eq!(end - start, 16 * 86_400);
    }
}
