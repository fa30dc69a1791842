//! Arbitrary bytes through the SMART private-key PEM reader: a key or a `KeyError`, never a
//! panic, and no error message repeats the file's content.
#![no_main]

use courier::ehr::auth::{ClientKey, JwtAlgorithm};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for algorithm in [None, Some(JwtAlgorithm::Rs384), Some(JwtAlgorithm::Es384)] {
        match ClientKey::from_pem(data, algorithm) {
            Ok(key) => {
                if let Some(wanted) = algorithm {
                    assert_eq!(key.algorithm(), wanted);
                }
                assert!(format!("{key:?}").ends_with("<redacted>)"));
            }
            Err(error) => {
                // Messages are fixed words; a long line of the file must never appear in one.
                let message = error.to_string();
                for line in String::from_utf8_lossy(data).lines() {
                    let line = line.trim();
                    if line.len() >= 24 && !line.starts_with("-----") {
                        assert!(!message.contains(line), "{message}");
                    }
                }
            }
        }
    }
});
