//! sled's errors as the store's: classified ([`EngineFault`]) here, where sled is known, so
//! that no caller needs sled's error type to tell a full disk from damage.

use crate::store::{EngineError, EngineFault, StoreError};

/// The store's error for one of sled's.
fn engine_error(err: sled::Error) -> EngineError {
    let fault = match &err {
        sled::Error::Io(io) => EngineFault::Io {
            os_error: io.raw_os_error(),
        },
        sled::Error::Corruption { .. } | sled::Error::ReportableBug(_) => EngineFault::Damage,
        _ => EngineFault::Other,
    };
    EngineError::new(fault, err)
}

impl From<sled::Error> for StoreError {
    fn from(err: sled::Error) -> Self {
        StoreError::Engine(engine_error(err))
    }
}
