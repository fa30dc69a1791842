//! Numeric checks: counts, sizes and durations, each between a lower and an upper bound.
//!
//! Every number has an upper bound far beyond any sensible setting, so a value above it is a
//! typo (often ms written for secs). Refusing it at load keeps timers, semaphores and
//! `Duration` arithmetic from overflowing or panicking hours into a run. TOML also allows
//! `nan` and `inf` as floats; both are refused wherever seconds are accepted.

use std::fmt;
use std::time::Duration;

use super::locate::KeyPath;
use super::validate::Checker;

/// The largest value a numeric key accepts, in the key's own unit, and how to say it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Max {
    /// The bound, in the unit the key's name carries.
    value: u32,
    /// That unit as a message says it ("seconds", "ms", "bytes"); empty for a plain count.
    unit: &'static str,
    /// The bound in everyday words ("1 day"); empty when the number says it already.
    words: &'static str,
}

impl Max {
    /// At most `value` things.
    pub const fn count(value: u32) -> Self {
        Self::new(value, "", "")
    }

    /// At most `value` seconds, which is `words` ("1 day").
    pub const fn secs(value: u32, words: &'static str) -> Self {
        Self::new(value, "seconds", words)
    }

    /// At most `value` hours, which is `words` ("1 year").
    pub const fn hours(value: u32, words: &'static str) -> Self {
        Self::new(value, "hours", words)
    }

    /// At most `value` milliseconds, which is `words` ("1 hour").
    pub const fn millis(value: u32, words: &'static str) -> Self {
        Self::new(value, "ms", words)
    }

    /// At most `value` bytes, which is `words` ("1 GiB").
    pub const fn bytes(value: u32, words: &'static str) -> Self {
        Self::new(value, "bytes", words)
    }

    const fn new(value: u32, unit: &'static str, words: &'static str) -> Self {
        Self { value, unit, words }
    }
}

/// `86400 seconds, 1 day`, `100000`: the number the file would hold, then what it means.
impl fmt::Display for Max {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.value)?;
        if !self.unit.is_empty() {
            write!(f, " {}", self.unit)?;
        }
        if !self.words.is_empty() {
            write!(f, ", {}", self.words)?;
        }
        Ok(())
    }
}

impl Checker<'_> {
    /// A count from 1 to `max`, or `default` when absent; `None` once reported.
    pub fn count(
        &mut self,
        path: &KeyPath,
        value: Option<i64>,
        default: i64,
        max: u32,
    ) -> Option<usize> {
        let count = self.integer(path, value.unwrap_or(default), 1, Max::count(max))?;
        usize::try_from(count).ok()
    }

    /// A number of bytes from `min` to `max`, or `default` when absent; `None` once reported.
    pub fn bytes(
        &mut self,
        path: &KeyPath,
        value: Option<i64>,
        default: i64,
        (min, max): (u32, Max),
    ) -> Option<usize> {
        let bytes = self.integer(path, value.unwrap_or(default), min, max)?;
        usize::try_from(bytes).ok()
    }

    /// A positive number of milliseconds up to `max`, or `default` when absent.
    pub fn millis(
        &mut self,
        path: &KeyPath,
        value: Option<i64>,
        default: i64,
        max: Max,
    ) -> Option<Duration> {
        let millis = self.integer(path, value.unwrap_or(default), 1, max)?;
        Some(Duration::from_millis(u64::from(millis)))
    }

    /// A positive number of seconds up to `max` (fractions allowed), or `default` when absent.
    pub fn positive_secs(
        &mut self,
        path: &KeyPath,
        value: Option<f64>,
        default: f64,
        max: Max,
    ) -> Option<Duration> {
        let secs = value.unwrap_or(default);
        if secs.is_finite() && secs <= 0.0 {
            let message = format!("must be greater than 0 (got {})", toml_float(secs));
            self.report(path, message);
            return None;
        }
        self.delay_secs(path, secs, max)
    }

    /// A number of seconds from `min` (more than 0) to `max`, fractions allowed, or `default`
    /// when absent: for timers that must not spin (a poll interval of a nanosecond is a busy
    /// loop against someone else's server).
    pub fn secs_at_least(
        &mut self,
        path: &KeyPath,
        value: Option<f64>,
        default: f64,
        (min, max): (f64, Max),
    ) -> Option<Duration> {
        let secs = value.unwrap_or(default);
        if secs.is_finite() && secs < min {
            let message = format!(
                "must be at least {} seconds (got {})",
                toml_float(min),
                toml_float(secs)
            );
            self.report(path, message);
            return None;
        }
        self.delay_secs(path, secs, max)
    }

    /// A number of seconds (or of the unit `max` is in) from 0 to `max`, fractions allowed.
    ///
    /// TOML allows `nan` and `inf`, and `Duration::from_secs_f64` panics on both, so they are
    /// refused first, by name.
    pub fn delay_secs(&mut self, path: &KeyPath, secs: f64, max: Max) -> Option<Duration> {
        let problem = if !secs.is_finite() {
            format!("must be a finite number (got {})", toml_float(secs))
        } else if secs < 0.0 {
            format!("must be 0 or more {} (got {})", max.unit, toml_float(secs))
        } else if secs > f64::from(max.value) {
            format!("must be at most {max} (got {})", toml_float(secs))
        } else {
            return Some(Duration::from_secs_f64(secs));
        };
        self.report(path, problem);
        None
    }

    /// An integer from `min` (at least 1) to `max`, or `None` once reported.
    fn integer(&mut self, path: &KeyPath, value: i64, min: u32, max: Max) -> Option<u32> {
        let within = u32::try_from(value)
            .ok()
            .filter(|v| (min..=max.value).contains(v));
        if within.is_some() {
            return within;
        }
        let problem = if value >= i64::from(min) {
            format!("must be at most {max} (got {value})")
        } else if min == 1 {
            format!("must be greater than 0 (got {value})")
        } else {
            let min = Max {
                value: min,
                words: "",
                ..max
            };
            format!("must be at least {min} (got {value})")
        };
        self.report(path, problem);
        None
    }
}

/// `f` as a TOML file writes it, so a message quotes what was typed: `nan` and `inf` rather
/// than Rust's `NaN`, and an exponent rather than hundreds of digits for a huge number.
pub(super) fn toml_float(f: f64) -> String {
    if f.is_nan() {
        "nan".to_owned()
    } else if f.is_finite() && f.abs() >= 1e16 {
        format!("{f:e}")
    } else {
        f.to_string()
    }
}
