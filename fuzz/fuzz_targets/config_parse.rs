//! Arbitrary TOML text through `courier::config::parse`: refusing is fine, panicking is not,
//! and every refusal names a key or a line.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

/// A fixed environment: every variable holds a usable Standard Webhooks secret, except those
/// whose name starts with `MISSING`, so both branches of secret loading run.
fn env(name: &str) -> Option<String> {
    if name.starts_with("MISSING") {
        None
    } else {
        Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned())
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(errors) = courier::config::parse(text, Path::new("fuzz.toml"), &env) {
        assert!(!errors.0.is_empty(), "a refusal lists at least one problem");
        for error in &errors.0 {
            // Rendering must not panic either (it is what `courier check` prints).
            let _ = error.to_string();
            if let Some(line) = error.line {
                assert!(
                    line >= 1 && line <= text.lines().count().max(1) + 1,
                    "{error}"
                );
            }
        }
    }
});
