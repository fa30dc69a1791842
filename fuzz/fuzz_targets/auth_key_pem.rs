//! Arbitrary bytes through the SMART private-key PEM reader: a key or a `KeyError`, never a
//! panic, and no error message repeats the file's content.
#![no_main]

use courier::client_key::{ClientKey, JwtAlgorithm};
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
                // Messages are fixed words; a line of key material (base64) must never appear
                // in one. Other lines may happen to be words of the fixed messages.
                let message = error.to_string();
                for line in String::from_utf8_lossy(data).lines() {
                    let line = line.trim();
                    let base64 = line
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
                    if line.len() >= 24 && base64 {
                        assert!(!message.contains(line), "{message}");
                    }
                }
            }
        }
    }
});
