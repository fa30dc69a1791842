//! TLS to the database, by rustls: the webpki roots and an optional CA file. Whether TLS is
//! used at all is the connection string's `sslmode` (`disable`, `prefer`, `require`).

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;

use tokio_postgres_rustls::MakeRustlsConnect;

use crate::store::StoreError;

/// The connector every pooled connection uses.
pub fn connector(ca_file: Option<&Path>) -> Result<MakeRustlsConnect, StoreError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).map_err(|err| {
            StoreError::Database(format!("store.ca_file {}: {err}", path.display()))
        })?;
        let mut added = 0;
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|err| {
                StoreError::Database(format!("store.ca_file {}: {err}", path.display()))
            })?;
            roots.add(cert).map_err(|err| {
                StoreError::Database(format!("store.ca_file {}: {err}", path.display()))
            })?;
            added += 1;
        }
        if added == 0 {
            return Err(StoreError::Database(format!(
                "store.ca_file {}: no PEM certificate in it",
                path.display()
            )));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| StoreError::Database(format!("TLS to the database: {err}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}
