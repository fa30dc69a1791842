//! Arbitrary token endpoint answers: an access token ready to send with a bounded lifetime,
//! or an error that never repeats a secret of the request.
#![no_main]

use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

/// The client secret the fuzzed request "sent"; an answer may echo it anywhere.
const SECRET: &str = "s3cr3t-Zq9xK";

#[derive(Debug, Arbitrary)]
struct Answer<'a> {
    status: u16,
    body: &'a [u8],
}

fuzz_target!(|answer: Answer<'_>| {
    let status = 100 + answer.status % 500;
    match courier::ehr::auth::fuzzing::token_response(status, answer.body, &[SECRET]) {
        Ok((header, lifetime)) => {
            assert!((200..300).contains(&status));
            let token = header.strip_prefix("Bearer ").expect("a Bearer header");
            assert!(!token.is_empty() && token.bytes().all(|b| b.is_ascii_graphic()));
            assert!(lifetime <= Duration::from_secs(86_400));
        }
        Err(message) => {
            // Not even 8 characters of it in a row: a half of the secret is a leak too.
            for part in SECRET.as_bytes().windows(8) {
                let part = std::str::from_utf8(part).unwrap();
                assert!(
                    !message.contains(part),
                    "the error repeats a part of the secret: {message}"
                );
            }
            assert!(
                message.len() < 600,
                "an error message is bounded: {message}"
            );
        }
    }
});
