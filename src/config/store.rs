//! `[store]` and `[cluster]`: where the durable state lives (sled on this machine, or a
//! PostgreSQL database shared by a cluster of instances) and how long a connection's lease
//! lasts when it is shared.

use std::path::PathBuf;
use std::time::Duration;

use super::locate::KeyPath;
use super::raw::{RawCluster, RawStore};
use super::validate::Checker;
use super::{ClusterConfig, PostgresConfig, StoreConfig};

/// Connections a PostgreSQL store keeps open unless `pool_size` says otherwise: enough for
/// the commits, completions and lease renewals of one instance on a few cores.
pub const DEFAULT_POOL_SIZE: u32 = 8;
/// Most connections one instance's pool may hold.
const POOL_SIZE_AT_MOST: u32 = 1000;
/// The schema Courier's tables live in unless `schema` says otherwise.
pub const DEFAULT_SCHEMA: &str = "courier";
/// How long a lease lasts unless `[cluster] lease_secs` says otherwise; renewed every third.
pub const DEFAULT_LEASE_SECS: u32 = 10;

/// Checks `[store]`; `None` after a problem was reported.
pub(super) fn store(check: &mut Checker<'_>, path: &KeyPath, raw: RawStore) -> Option<StoreConfig> {
    match raw.backend.as_deref().unwrap_or("sled") {
        "sled" => {
            for (key, set) in [
                ("url_env", raw.url_env.is_some()),
                ("pool_size", raw.pool_size.is_some()),
                ("schema", raw.schema.is_some()),
                ("ca_file", raw.ca_file.is_some()),
            ] {
                if set {
                    check.report(
                        &path.key(key),
                        "only a backend = \"postgres\" store takes it",
                    );
                }
            }
            let Some(store_path) = raw.path else {
                check.report(&path.key("path"), "the sled store's directory is required");
                return None;
            };
            check.non_empty(&path.key("path"), &store_path);
            Some(StoreConfig::Sled {
                path: PathBuf::from(store_path),
            })
        }
        "postgres" => postgres(check, path, raw).map(StoreConfig::Postgres),
        other => {
            check.report(
                &path.key("backend"),
                format!("{other:?} is not a store backend: \"sled\" or \"postgres\""),
            );
            None
        }
    }
}

fn postgres(check: &mut Checker<'_>, path: &KeyPath, raw: RawStore) -> Option<PostgresConfig> {
    if raw.path.is_some() {
        check.report(
            &path.key("path"),
            "a postgres store has no directory; `courier store copy` moves a sled store into it",
        );
    }
    let url_path = path.key("url_env");
    let Some(url_env) = raw.url_env else {
        check.report(
            &url_path,
            "required: the environment variable holding the connection string \
             (postgres://user@host/db?sslmode=require)",
        );
        return None;
    };
    let url = check.env_secret(&url_path, &url_env)?;
    if let Err(err) = url.expose().parse::<tokio_postgres::Config>() {
        // The parser's message never quotes the password, but say only what kind of error.
        let reason = err.to_string();
        check.report(
            &url_path,
            format!("${url_env} is not a PostgreSQL connection string: {reason}"),
        );
        return None;
    }
    let pool_size = check.count(
        &path.key("pool_size"),
        raw.pool_size,
        i64::from(DEFAULT_POOL_SIZE),
        POOL_SIZE_AT_MOST,
    )?;
    let schema = raw.schema.unwrap_or_else(|| DEFAULT_SCHEMA.to_owned());
    if !is_identifier(&schema) {
        check.report(
            &path.key("schema"),
            format!("{schema:?} is not a plain SQL name: lower-case letters, digits and _, 1 to 63 of them, not starting with a digit"),
        );
        return None;
    }
    Some(PostgresConfig {
        url,
        url_env,
        pool_size,
        schema,
        ca_file: raw.ca_file.map(PathBuf::from),
    })
}

/// Checks `[cluster]`, which only a postgres store reads.
pub(super) fn cluster(check: &mut Checker<'_>, path: &KeyPath, raw: RawCluster) -> ClusterConfig {
    let key = path.key("lease_secs");
    let secs = check.count(&key, raw.lease_secs, i64::from(DEFAULT_LEASE_SECS), 3600);
    let secs = match secs {
        Some(secs) if secs < 3 => {
            check.report(&key, "at least 3: a lease is renewed every third of it");
            None
        }
        secs => secs,
    };
    ClusterConfig {
        lease: Duration::from_secs(secs.unwrap_or(DEFAULT_LEASE_SECS as usize) as u64),
    }
}

/// A schema name that needs no quoting anywhere it is spliced into SQL.
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z' | '_'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
        && name.len() <= 63
}

#[cfg(test)]
mod tests {
    use super::is_identifier;

    #[test]
    fn schema_names_are_plain_sql_names() {
        assert!(is_identifier("courier"));
        assert!(is_identifier("courier_2"));
        assert!(!is_identifier("2courier"));
        assert!(!is_identifier("Courier"));
        assert!(!is_identifier("a;drop"));
        assert!(!is_identifier(""));
    }
}
