//! Which failed answers are worth retrying: the status classification both sides share.

/// Whether an EHR error status is worth retrying with backoff, or needs an operator instead.
///
/// Retried: 408 Request Timeout, 425 Too Early, 429 Too Many Requests (with `Retry-After`), and
/// 5xx server errors, which are usually overload or maintenance windows. Not retried: every
/// other 4xx (bad credentials, a wrong path or query: polling again cannot fix them), and the
/// two 5xx that state a permanent mismatch rather than a passing fault: 501 Not Implemented
/// and 505 HTTP Version Not Supported.
pub fn is_retriable_ehr_status(status: u16) -> bool {
    match status {
        408 | 425 | 429 => true,
        501 | 505 => false,
        500..=599 => true,
        _ => false,
    }
}

/// Whether a destination's failed answer `status` proves it up and judging this
/// notification: a 4xx other than the passing ones (408, 425, 429). A 5xx, a timeout or a
/// refused connection says nothing about the notification, only that the destination is not
/// taking anything right now, so it can never be the sole ground for a dead letter.
pub fn refuses_content(status: Option<u16>) -> bool {
    matches!(status, Some(s) if (400..=499).contains(&s) && !is_retriable_ehr_status(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ehr_retries_timeouts_throttling_and_server_errors_only() {
        for status in [408, 425, 429, 500, 502, 503, 504, 599] {
            assert!(is_retriable_ehr_status(status), "{status}");
        }
        for status in [200, 301, 400, 401, 403, 404, 410, 422, 501, 505] {
            assert!(!is_retriable_ehr_status(status), "{status}");
        }
    }

    #[test]
    fn only_a_lasting_4xx_says_the_destination_refused_the_content() {
        for status in [400, 401, 403, 404, 413, 422] {
            assert!(refuses_content(Some(status)), "{status}");
        }
        for status in [
            None,
            Some(302),
            Some(408),
            Some(425),
            Some(429),
            Some(500),
            Some(503),
        ] {
            assert!(!refuses_content(status), "{status:?}");
        }
    }
}
