//! Transport security of a connection or destination: which URLs may go without TLS, and the
//! certificate files its TLS client trusts and presents.
//!
//! The files are read and checked at load, so a missing, unreadable or wrong file is refused
//! with the other configuration errors instead of failing every request hours later. Relative
//! paths are relative to the working directory, like `store.path`.

use std::net::IpAddr;
use std::path::Path;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use url::{Host, Url};

use super::locate::KeyPath;
use super::validate::Checker;
use crate::tls::{ClientIdentity, ClientTls, TlsSetupError};

/// The transport keys of a `[connections.<id>]` or `[destinations.<id>]` table, as written.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct TlsKeys<'r> {
    /// `ca_file`: PEM certificates trusted besides the webpki roots.
    pub ca_file: Option<&'r str>,
    /// `client_cert_file`: the PEM certificate chain presented for mutual TLS.
    pub client_cert_file: Option<&'r str>,
    /// `client_key_file`: the PEM private key of that certificate.
    pub client_key_file: Option<&'r str>,
}

/// Whether `url`'s host is this machine: `localhost`, 127.0.0.0/8 or `::1` (also written as
/// the IPv4-mapped `::ffff:127.x.y.z`). Only then can plain http not be read on the way.
pub(super) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).to_canonical().is_loopback(),
        None => false,
    }
}

impl Checker<'_> {
    /// Refuses a plain `http://` URL unless its host is loopback or `allowed`
    /// (`allow_insecure_http = true`): PHI and credentials must not cross a network in clear.
    pub fn plain_http(&mut self, path: &KeyPath, url: &Url, allowed: bool) {
        if url.scheme() == "http" && !allowed && !is_loopback(url) {
            self.report(
                path,
                "plain http is refused for a host that is not loopback: use https \
                 (or set allow_insecure_http = true)",
            );
        }
    }

    /// Reads the certificate files named in the table at `table` and builds its TLS client
    /// configuration; `None` once a problem was reported.
    pub fn client_tls(&mut self, table: &KeyPath, keys: TlsKeys<'_>) -> Option<ClientTls> {
        let ca_path = table.key("ca_file");
        let private_cas = match keys.ca_file {
            None => Some(Vec::new()),
            Some(file) => self.report_err(&ca_path, read_certificates(file)),
        };
        let identity = self.client_identity(table, keys);
        let (private_cas, identity) = (private_cas?, identity?);
        if private_cas.is_empty() && identity.is_none() {
            return Some(ClientTls::webpki_roots());
        }
        match ClientTls::new(&private_cas, identity) {
            Ok(tls) => Some(tls),
            Err(err @ TlsSetupError::PrivateCa { .. }) => {
                let file = keys.ca_file.unwrap_or_default();
                self.report(&ca_path, format!("\"{file}\": {err}"));
                None
            }
            Err(TlsSetupError::ClientCert(err)) => {
                let cert = keys.client_cert_file.unwrap_or_default();
                let key = keys.client_key_file.unwrap_or_default();
                let message = match err {
                    rustls::Error::InconsistentKeys(_) => {
                        format!("the key in \"{key}\" does not match the certificate in \"{cert}\"")
                    }
                    other => format!("\"{key}\" cannot be used with \"{cert}\": {other}"),
                };
                self.report(&table.key("client_key_file"), message);
                None
            }
        }
    }

    /// The client certificate and key, which come as a pair: `Some(None)` when neither is
    /// set, `None` once a problem was reported.
    fn client_identity(
        &mut self,
        table: &KeyPath,
        keys: TlsKeys<'_>,
    ) -> Option<Option<ClientIdentity>> {
        let (cert_path, key_path) = (table.key("client_cert_file"), table.key("client_key_file"));
        match (keys.client_cert_file, keys.client_key_file) {
            (None, None) => Some(None),
            (Some(_), None) => {
                let message = "requires client_key_file (mutual TLS needs the certificate's key)";
                self.report(&cert_path, message);
                None
            }
            (None, Some(_)) => {
                let message = "requires client_cert_file (mutual TLS needs the key's certificate)";
                self.report(&key_path, message);
                None
            }
            (Some(cert), Some(key)) => {
                let chain = self.report_err(&cert_path, read_certificates(cert));
                let key = self.report_err(&key_path, read_private_key(key));
                Some(Some(ClientIdentity {
                    chain: chain?,
                    key: key?,
                }))
            }
        }
    }

    fn report_err<T>(&mut self, path: &KeyPath, result: Result<T, String>) -> Option<T> {
        result.map_err(|message| self.report(path, message)).ok()
    }
}

/// Every certificate in the PEM file at `file` (one at least).
fn read_certificates(file: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = read(file)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| format!("\"{file}\" is not valid PEM: {}", pem_problem(&err)))?;
    if certs.is_empty() {
        return Err(format!(
            "\"{file}\" holds no certificate (expected PEM \"BEGIN CERTIFICATE\" blocks)"
        ));
    }
    Ok(certs)
}

/// The first private key in the PEM file at `file` (PKCS#8, PKCS#1 or SEC1). Messages never
/// quote the file's content.
fn read_private_key(file: &str) -> Result<PrivateKeyDer<'static>, String> {
    let bytes = read(file)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|err| match err {
        pem::Error::NoItemsFound => format!(
            "\"{file}\" holds no private key (expected a PEM \"BEGIN PRIVATE KEY\", \
             \"BEGIN RSA PRIVATE KEY\" or \"BEGIN EC PRIVATE KEY\" block)"
        ),
        other => format!("\"{file}\" is not valid PEM: {}", pem_problem(&other)),
    })
}

fn read(file: &str) -> Result<Vec<u8>, String> {
    std::fs::read(Path::new(file)).map_err(|err| format!("cannot read \"{file}\": {err}"))
}

/// What is wrong with a PEM file, without quoting its lines (a key file's lines are secret).
fn pem_problem(err: &pem::Error) -> &'static str {
    match err {
        pem::Error::MissingSectionEnd { .. } => "a block has no END line",
        pem::Error::IllegalSectionStart { .. } => "a BEGIN line is malformed",
        pem::Error::Base64Decode(_) => "a block is not valid base64",
        pem::Error::SectionTooLarge => "a block is larger than 256 MB",
        _ => "it cannot be parsed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loopback(url: &str) -> bool {
        is_loopback(&Url::parse(url).unwrap())
    }

    #[test]
    fn loopback_hosts_are_localhost_127_slash_8_and_ipv6_loopback() {
        for url in [
            "http://localhost:8080/api",
            "http://LocalHost/api",
            "http://127.0.0.1:9/api",
            "http://127.255.3.4/",
            "http://[::1]:8080/",
            "http://[::ffff:127.0.0.1]/",
        ] {
            assert!(loopback(url), "{url} is loopback");
        }
    }

    #[test]
    fn other_hosts_are_not_loopback() {
        for url in [
            "http://ehr.example.org/api",
            "http://localhost.example.org/",
            "http://10.0.0.1/",
            "http://128.0.0.1/",
            "http://0.0.0.0/",
            "http://[::2]/",
            "http://[::]/",
            "http://[::ffff:10.0.0.1]/",
        ] {
            assert!(!loopback(url), "{url} is not loopback");
        }
    }
}
