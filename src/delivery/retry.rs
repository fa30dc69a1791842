//! What counts as a delivered notification: only a 2xx answer.

/// Whether a destination accepted a notification. Only 2xx counts: a 3xx is a failure because
/// the sender does not follow redirects (following one would send signed patient-related data
/// to a place the operator never configured).
pub fn is_success(status: u16) -> bool {
    (200..=299).contains(&status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_2xx_is_success_and_redirects_are_failures() {
        assert!(is_success(200) && is_success(204) && is_success(299));
        assert!(!is_success(199) && !is_success(301) && !is_success(304));
        assert!(!is_success(400) && !is_success(500));
    }
}
