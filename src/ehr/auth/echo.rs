//! Whether a token endpoint's text repeats a secret of the request, in any encoding Courier
//! sent it in or a server may have decoded it to.
//!
//! A token endpoint that refuses a client often says what it received, and that can be the
//! client secret as Courier sent it: percent-encoded in a form body, base64-encoded in a
//! Basic header, or decoded back to its raw form. An answer's text is shown (in the log and
//! the status `last_error`) only when no run of [`WINDOW`] characters of any of those forms
//! appears in it, compared without regard to case and also with everything but letters and
//! digits removed from both sides (so `Sp3c al secret` still matches `Sp3c+al/=&secret`).

use std::collections::HashSet;

use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use base64::Engine;
use url::form_urlencoded;

/// Shortest run of a secret's characters that counts as repeating it: long enough that a
/// word of an ordinary error text does not match a random secret, short enough that half of
/// a 16-character secret, or a fragment of its base64, does.
const WINDOW: usize = 8;

/// The secrets of one token request, ready to be looked for in the endpoint's answer.
pub(super) struct Secrets {
    /// Every run of [`WINDOW`] characters of every form of every secret, lower-cased.
    windows: HashSet<[u8; WINDOW]>,
    /// Forms shorter than [`WINDOW`], lower-cased: these must not appear whole.
    short: Vec<Vec<u8>>,
}

impl Secrets {
    /// The forms of `sent` (client secrets, Basic credentials, assertions) to look for.
    pub fn new(sent: &[&str]) -> Self {
        let mut secrets = Self {
            windows: HashSet::new(),
            short: Vec::new(),
        };
        for secret in sent.iter().filter(|secret| !secret.is_empty()) {
            for form in forms(secret.as_bytes()) {
                secrets.add(lower(&form), true);
                // A skeleton shorter than a window (a secret mostly of punctuation) would
                // match too much text; the secret's other forms still count.
                secrets.add(skeleton(&form), false);
            }
        }
        secrets
    }

    /// Adds the windows of `form`, or `form` itself when it is shorter and `whole` says so.
    fn add(&mut self, form: Vec<u8>, whole: bool) {
        if form.len() < WINDOW {
            if whole && !form.is_empty() {
                self.short.push(form);
            }
            return;
        }
        for window in form.windows(WINDOW) {
            let mut key = [0; WINDOW];
            key.copy_from_slice(window);
            self.windows.insert(key);
        }
    }

    /// Whether `text` repeats any secret, or a run of [`WINDOW`] characters of one, in any
    /// of its forms.
    pub fn repeated_in(&self, text: &str) -> bool {
        let text = lower(text.as_bytes());
        [text.clone(), skeleton(&text)].iter().any(|text| {
            text.windows(WINDOW)
                .any(|window| self.windows.contains(window))
                || self
                    .short
                    .iter()
                    .any(|form| text.windows(form.len()).any(|w| w == form.as_slice()))
        })
    }
}

/// The forms a secret travels in or is decoded to: raw, form-encoded (`+` for a space),
/// percent-encoded (every byte but letters and digits), and each of these in base64
/// (standard and URL-safe) at the three alignments it can have inside a longer value, such as
/// the `client_id:client_secret` pair of a Basic header.
fn forms(secret: &[u8]) -> Vec<Vec<u8>> {
    let texts = [
        secret.to_vec(),
        form_urlencoded::byte_serialize(secret)
            .collect::<String>()
            .into_bytes(),
        percent_encoded(secret),
    ];
    let mut forms = Vec::new();
    for text in texts {
        for skip in 0..3.min(text.len()) {
            let rest = &text[skip..];
            // Only whole 3-byte groups: their characters do not depend on what follows.
            let whole = &rest[..rest.len() / 3 * 3];
            forms.push(STANDARD_NO_PAD.encode(whole).into_bytes());
            forms.push(URL_SAFE_NO_PAD.encode(whole).into_bytes());
        }
        forms.push(text);
    }
    forms
}

/// Every byte but ASCII letters and digits as `%XX`.
fn percent_encoded(secret: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(secret.len() * 3);
    for &b in secret {
        if b.is_ascii_alphanumeric() {
            out.push(b);
        } else {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        }
    }
    out
}

fn lower(text: &[u8]) -> Vec<u8> {
    text.to_ascii_lowercase()
}

/// Only the ASCII letters and digits, lower-cased.
fn skeleton(text: &[u8]) -> Vec<u8> {
    text.iter()
        .filter(|b| b.is_ascii_alphanumeric())
        .map(u8::to_ascii_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::STANDARD;

    use super::*;

    /// The secret of issue 12: every character a form body or a Basic header encodes.
    const SECRET: &str = "Sp3c+al/=&secret-42";

    fn secrets() -> Secrets {
        let basic = super::super::token::basic_credentials("courier-test", SECRET);
        let credentials = basic.to_str().unwrap().trim_start_matches("Basic ");
        Secrets::new(&[SECRET, credentials])
    }

    #[test]
    fn the_secret_is_found_in_every_encoding_courier_sends_it_in() {
        let secrets = secrets();
        let pair = "courier-test:Sp3c%2Bal%2F%3D%26secret-42";
        let echoes = [
            SECRET.to_owned(),
            "Sp3c%2Bal%2F%3D%26secret-42".to_owned(),
            "sp3c%2bal%2f%3d%26secret%2d42".to_owned(),
            "client_secret=Sp3c%2Bal%2F%3D%26secret-42".to_owned(),
            format!("Basic {}", STANDARD.encode(pair)),
            STANDARD.encode(pair),
            STANDARD.encode(format!("x{SECRET}")),
            STANDARD.encode(format!("xy{SECRET}")),
            URL_SAFE_NO_PAD.encode(SECRET),
            pair.to_owned(),
            "SP3C+AL/=&SECRET-42".to_owned(),
            "Sp3c al / secret 42".to_owned(),
            "Sp3c&#43;al&#47;&#61;&amp;secret-42".to_owned(),
        ];
        for echo in echoes {
            let text = format!("bad credentials [{echo}]");
            assert!(secrets.repeated_in(&text), "not caught: {text}");
        }
    }

    #[test]
    fn any_eight_characters_of_the_secret_are_found() {
        let secrets = secrets();
        for start in 0..=SECRET.len() - WINDOW {
            let part = &SECRET[start..start + WINDOW];
            assert!(secrets.repeated_in(&format!("got {part}!")), "{part}");
        }
        let encoded = STANDARD.encode("courier-test:Sp3c%2Bal%2F%3D%26secret-42");
        for start in 0..=encoded.len() - WINDOW {
            let part = &encoded[start..start + WINDOW];
            assert!(secrets.repeated_in(&format!("got {part}!")), "{part}");
        }
    }

    #[test]
    fn an_ordinary_error_text_is_not_taken_for_a_secret() {
        let secrets = secrets();
        for text in [
            "Client authentication failed",
            "The client credentials are invalid or the client is unknown",
            "Basic authentication required",
            "secret-4",
        ] {
            assert_eq!(secrets.repeated_in(text), text == "secret-4", "{text}");
        }
    }

    #[test]
    fn a_short_secret_is_found_whole_and_nothing_is_found_for_none() {
        let short = Secrets::new(&["s3cret", ""]);
        assert!(short.repeated_in("bad secret S3CRET"));
        assert!(short.repeated_in("bad secret czNjcmV0"));
        assert!(!short.repeated_in("bad secret s3cre"));
        assert!(!Secrets::new(&[]).repeated_in("anything at all"));
    }
}
