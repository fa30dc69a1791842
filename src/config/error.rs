//! Configuration errors, rendered `file:line: key: what is wrong` so an editor can jump there.

use std::fmt;
use std::path::PathBuf;

/// One thing wrong with a configuration file.
///
/// Messages never contain a secret's value: they name the environment variable instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file the configuration came from.
    pub file: PathBuf,
    /// 1-based line of the offending key, when it is written in the file at all.
    pub line: Option<usize>,
    /// Dotted key path, such as `connections.clinic-a.enrich[1].path`; empty when the problem
    /// is not about one key (a syntax error, an unreadable file).
    pub key: String,
    /// What is wrong, for a person to read.
    pub message: String,
}

/// Every problem found in one configuration; never empty.
///
/// A configuration is refused whole, so reporting all semantic problems at once saves the
/// operator a fix-and-retry round per mistake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// The errors, in file order.
    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.0.iter()
    }

    /// How many problems were found.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false for errors returned by `load`/`parse`; present because `len` is.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

impl std::error::Error for ConfigErrors {}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(line: Option<usize>, key: &str) -> ConfigError {
        ConfigError {
            file: PathBuf::from("config/courier.toml"),
            line,
            key: key.to_owned(),
            message: "what is wrong".to_owned(),
        }
    }

    #[test]
    fn renders_one_line_per_error_as_file_line_key_message() {
        let errors = ConfigErrors(vec![error(Some(14), "store.path"), error(Some(2), "")]);
        assert_eq!(
            errors.to_string(),
            "config/courier.toml:14: store.path: what is wrong\n\
             config/courier.toml:2: what is wrong"
        );
    }

    #[test]
    fn leaves_out_the_line_when_the_key_is_not_in_the_file() {
        assert_eq!(
            error(None, "store").to_string(),
            "config/courier.toml: store: what is wrong"
        );
    }
}
