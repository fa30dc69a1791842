//! The `Host` a request names, read as an authority (a host and maybe a port): for the DNS
//! rebinding guard of an open loopback API, and to compare with a request's `Origin`.

use std::net::IpAddr;

/// A `Host` value taken apart: the host, lowercased (an IPv6 literal keeps its brackets, as in
/// a URL), and the port when one was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authority {
    /// `127.0.0.1`, `localhost`, `[::1]`, `courier.example`.
    pub host: String,
    /// The port after the colon, if any.
    pub port: Option<u16>,
}

/// Reads `text` (`host`, `host:port`, `[v6]`, `[v6]:port`); `None` when it is none of them.
pub fn authority(text: &str) -> Option<Authority> {
    let (host, port) = if text.starts_with('[') {
        let end = text.find(']')?;
        (&text[..=end], &text[end + 1..])
    } else {
        match text.find(':') {
            Some(colon) => (&text[..colon], &text[colon..]),
            None => (text, ""),
        }
    };
    let port = match port.strip_prefix(':') {
        None if port.is_empty() => None,
        None => return None,
        Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
            Some(digits.parse().ok()?)
        }
        Some(_) => return None,
    };
    let valid = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-[]:".contains(&b));
    valid.then(|| Authority {
        host: host.to_ascii_lowercase(),
        port,
    })
}

/// Whether `host` (a `Host` value) names this machine by a loopback IP literal or
/// `localhost`, with any port. Any other name could be an attacker's domain that resolves to
/// 127.0.0.1 (DNS rebinding), letting a web page read an open loopback API.
pub fn is_loopback(host: &str) -> bool {
    let Some(authority) = authority(host) else {
        return false;
    };
    if authority.host == "localhost" {
        return true;
    }
    let literal = authority
        .host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(&authority.host);
    literal
        .parse::<IpAddr>()
        .is_ok_and(|ip| ip.to_canonical().is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_authority_is_a_host_and_maybe_a_port() {
        let read = |text| authority(text).map(|a| (a.host, a.port));
        assert_eq!(
            read("127.0.0.1:9464"),
            Some(("127.0.0.1".into(), Some(9464)))
        );
        assert_eq!(read("LocalHost"), Some(("localhost".into(), None)));
        assert_eq!(read("[::1]:80"), Some(("[::1]".into(), Some(80))));
        assert_eq!(read("[::1]"), Some(("[::1]".into(), None)));
        for bad in [
            "",
            ":80",
            "host:",
            "host:http",
            "host:99999",
            "[::1",
            "a b",
            "h/p",
        ] {
            assert_eq!(read(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn only_loopback_literals_and_localhost_pass_the_rebinding_guard() {
        for host in [
            "127.0.0.1:9464",
            "127.0.0.1",
            "127.8.9.10:1",
            "localhost:9464",
            "LOCALHOST",
            "[::1]:9464",
            "[::ffff:127.0.0.1]",
        ] {
            assert!(is_loopback(host), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:9464",
            "localhost.evil.example",
            "10.0.0.5:9464",
            "0.0.0.0:9464",
            "[::]:9464",
            "::1",
            "127.1",
            "",
        ] {
            assert!(!is_loopback(host), "{host}");
        }
    }
}
