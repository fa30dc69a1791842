//! `courier run` as one instance of a cluster (`backend = "postgres"`): its name, its admin
//! address, the store with fenced writes, and its members row.

use std::net::SocketAddr;
use std::process::ExitCode;

use courier::cluster::{config_hash, Cluster, ClusterBoard, JoinError, Membership};
use courier::config::{AdminConfig, Config, PostgresConfig};
use courier::store::postgres::FencePolicy;
use courier::store::Store;

/// The name an instance goes by when `--instance` does not say: the host's name, which is
/// unique per host (several instances on one host each need `--instance`).
pub fn default_instance() -> String {
    let from_file = std::fs::read_to_string("/etc/hostname").ok();
    let from_command = || {
        let out = std::process::Command::new("hostname").output().ok()?;
        String::from_utf8(out.stdout).ok()
    };
    from_file
        .or_else(from_command)
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "courier".to_owned())
}

/// `--admin-listen` over `[admin] listen`, under the same rule as the file: anything but
/// loopback needs a token.
pub fn override_listen(
    admin: &mut AdminConfig,
    listen: Option<SocketAddr>,
) -> Result<(), ExitCode> {
    let Some(listen) = listen else {
        return Ok(());
    };
    if admin.enabled && admin.token.is_none() && !listen.ip().is_loopback() {
        eprintln!(
            "--admin-listen {listen}: not a loopback address: set [admin] token_env to require \
             a bearer token"
        );
        return Err(ExitCode::from(2));
    }
    admin.listen = listen;
    Ok(())
}

/// Opens the PostgreSQL store with fenced writes and registers `instance` in the members,
/// advertising `admin_url`; exit 1 when the database cannot be reached or the name is taken.
pub fn join(
    config: &Config,
    pg: &PostgresConfig,
    instance: &str,
    admin_url: Option<&str>,
) -> Result<(Store, Cluster), ExitCode> {
    let (store, handle) = Store::postgres(pg, FencePolicy::Leases).map_err(|err| {
        eprintln!("{}: {err}", config.store.describe());
        ExitCode::from(1)
    })?;
    let hash = config_hash(config);
    let lease = config.cluster.lease;
    let db = handle.db().clone();
    let joined = db
        .block_on(|_| async { Ok(Membership::join(&db, instance, lease, &hash, admin_url).await) });
    let membership = joined.map_err(JoinError::from).and_then(|joined| joined);
    let membership = membership.map_err(|err| {
        eprintln!("cluster: {err}");
        ExitCode::from(1)
    })?;
    let cluster = Cluster {
        pg: handle,
        membership,
        board: ClusterBoard::new(instance, &hash),
    };
    Ok((store, cluster))
}

#[cfg(test)]
mod tests {
    use courier::config::{AdminConfig, Secret};

    use super::{default_instance, override_listen};

    fn admin(token: Option<&str>) -> AdminConfig {
        AdminConfig {
            enabled: true,
            listen: "127.0.0.1:9464".parse().unwrap(),
            token: token.map(|t| Secret::new(t.to_owned())),
        }
    }

    #[test]
    fn admin_listen_replaces_the_files_address() {
        let mut config = admin(None);
        override_listen(&mut config, Some("127.0.0.1:9465".parse().unwrap())).unwrap();
        assert_eq!(config.listen.port(), 9465);
        override_listen(&mut config, None).unwrap();
        assert_eq!(config.listen.port(), 9465, "no flag, no change");
    }

    #[test]
    fn admin_listen_beyond_loopback_needs_a_token_as_the_file_does() {
        let outside = "0.0.0.0:9464".parse().unwrap();
        let mut open = admin(None);
        assert!(override_listen(&mut open, Some(outside)).is_err());
        assert!(open.listen.ip().is_loopback(), "left as it was");
        let mut guarded = admin(Some("a-token-long-enough-to-resist-guessing"));
        override_listen(&mut guarded, Some(outside)).unwrap();
        assert_eq!(guarded.listen, outside);
    }

    #[test]
    fn an_instance_is_named_after_its_host_by_default() {
        let name = default_instance();
        let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
        if !host.trim().is_empty() {
            assert_eq!(name, host.trim());
        }
        assert!(!name.is_empty() && !name.contains('\n'), "{name:?}");
    }
}
