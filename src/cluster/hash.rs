//! The configuration hash kept in each members row: instances of one cluster must poll with
//! the same settings, and a member whose hash differs from the others' is reported.

use sha2::{Digest, Sha256};

use crate::config::Config;

/// The SHA-256 (hex) of what the instances of a cluster must agree on: the store, the
/// cluster, the destinations and the connections, as their `Debug` text shows them (every
/// setting, secrets as a redacted marker, maps in key order). `[admin]` and `[runtime]` are
/// left out: they legitimately differ per instance (`--admin-listen`, the cores of a host).
pub fn config_hash(config: &Config) -> String {
    let text = format!(
        "{:?}\n{:?}\n{:?}\n{:?}",
        config.store, config.cluster, config.destinations, config.connections
    );
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::config_hash;
    use crate::config::{parse, Config};

    const TEXT: &str = r#"[store]
path = "var/courier"

[admin]
listen = "127.0.0.1:9464"

[destinations.app]
url = "https://receiver.example.org/hooks/ehr"
secret_env = "COURIER_APP_SECRET"

[connections.clinic-a]
destination = "app"
source = "changes"
base_url = "https://ehr.example.org/api"
changes_path = "/appointments/changed"
key_pointer = "/id"
cursor_pointer = "/seq"
event_type = "appointment.updated"
"#;

    fn config(text: &str, secret: &'static str) -> Config {
        let env = move |name: &str| (name == "COURIER_APP_SECRET").then(|| secret.to_owned());
        parse(text, Path::new("courier.toml"), &env).expect("a valid configuration")
    }

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    #[test]
    fn the_same_configuration_hashes_the_same_in_every_instance() {
        let hash = config_hash(&config(TEXT, SECRET));
        assert_eq!(hash, config_hash(&config(TEXT, SECRET)));
        assert_eq!(hash.len(), 64);
        assert!(hash.chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn admin_and_runtime_settings_may_differ_between_instances() {
        let base = config(TEXT, SECRET);
        let mut other = config(&TEXT.replace("9464", "9465"), SECRET);
        other.runtime.workers = base.runtime.workers + 3;
        assert_eq!(config_hash(&base), config_hash(&other));
    }

    #[test]
    fn a_different_connection_or_lease_setting_changes_the_hash() {
        let base = config(TEXT, SECRET);
        let moved = config(&TEXT.replace("/seq", "/position"), SECRET);
        assert_ne!(config_hash(&base), config_hash(&moved));
        let mut longer = base.clone();
        longer.cluster.lease = Duration::from_secs(60);
        assert_ne!(config_hash(&base), config_hash(&longer));
    }

    #[test]
    fn the_hash_never_depends_on_a_secret_value() {
        let other_secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
        assert_eq!(
            config_hash(&config(TEXT, SECRET)),
            config_hash(&config(TEXT, other_secret))
        );
    }
}
