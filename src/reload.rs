//! Reloading the configuration of a running Courier (SIGHUP, `POST /reload`): re-read the
//! file, validate it exactly as `courier check` does, and apply it; an invalid file changes
//! nothing.

use std::path::PathBuf;
use std::sync::Arc;

use crate::actors::control::{Control, ControlError, ReloadReport};
use crate::config::{self, ConfigErrors};

/// Looks up environment variables (secrets) when the file is re-read.
pub type Env = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Why a reload changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The new file is invalid; the messages are those of `courier check`.
    #[error("{0}")]
    Invalid(ConfigErrors),
    /// The new file is valid but cannot be applied while running (or Courier is stopping).
    #[error("{0}")]
    Refused(ControlError),
}

/// Re-reads one configuration file and applies it to the running tree.
#[derive(Clone)]
pub struct Reloader {
    path: PathBuf,
    env: Env,
    control: Control,
}

impl Reloader {
    /// A reloader for the file at `path`, reading secrets through `env`.
    pub fn new(path: PathBuf, env: Env, control: Control) -> Self {
        Self { path, env, control }
    }

    /// Re-reads and applies the file; logs the outcome (a refusal at error: the operator's
    /// change did not happen).
    pub async fn reload(&self) -> Result<ReloadReport, ReloadError> {
        let env = Arc::clone(&self.env);
        let outcome = match config::load(&self.path, &move |name| env(name)) {
            Err(errors) => Err(ReloadError::Invalid(errors)),
            Ok(config) => self
                .control
                .reload(config)
                .await
                .map_err(ReloadError::Refused),
        };
        if let Err(err) = &outcome {
            log::error!(
                "reload of {} refused; the running configuration stays:\n{err}",
                self.path.display()
            );
        }
        outcome
    }
}
