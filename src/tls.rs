//! TLS and the HTTP client of every outgoing request: the EHR clients and the destination
//! clients are built here, from one rustls configuration per connection or destination.
//!
//! A configuration trusts the webpki roots, plus the private CAs of `ca_file` when set, and
//! presents a client certificate when `client_cert_file`/`client_key_file` are set (mutual
//! TLS). Certificate verification cannot be turned off: there is no setting that does it.
//! The files are read and checked when the configuration loads (`config::tls`), so what is
//! built here from their contents cannot fail at runtime.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use actix_web::error::ParseError;
use actix_web::http::header;
use awc::error::{ConnectError, SendRequestError};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{AlertDescription, CertificateError, ClientConfig, RootCertStore};

/// The TLS side of one HTTP client: what it trusts and what it presents. Cheap to clone; the
/// rustls configuration inside is built once and shared by every client made from it.
#[derive(Clone)]
pub struct ClientTls {
    config: Arc<ClientConfig>,
    /// Certificates trusted besides the webpki roots (from `ca_file`).
    private_cas: usize,
    /// Whether a client certificate is presented (mutual TLS).
    client_cert: bool,
}

/// A client certificate chain (leaf first) and its private key, for mutual TLS.
pub struct ClientIdentity {
    /// The certificate chain presented to the server, leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The leaf's private key.
    pub key: PrivateKeyDer<'static>,
}

/// Why certificates that were read fine cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// A certificate of `ca_file` is not a usable trust anchor.
    #[error("certificate {number} cannot be trusted as a CA: {source}")]
    PrivateCa {
        /// 1-based position of the certificate in the file.
        number: usize,
        /// What rustls found wrong with it.
        #[source]
        source: rustls::Error,
    },
    /// The client certificate and key do not make a usable identity (they do not match, or
    /// the key type is not supported).
    #[error("{0}")]
    ClientCert(#[source] rustls::Error),
}

impl ClientTls {
    /// Trusts the webpki roots and `private_cas`, and presents `identity` when given.
    pub fn new(
        private_cas: &[CertificateDer<'static>],
        identity: Option<ClientIdentity>,
    ) -> Result<Self, TlsSetupError> {
        let mut roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        for (i, ca) in private_cas.iter().enumerate() {
            roots
                .add(ca.clone())
                .map_err(|source| TlsSetupError::PrivateCa {
                    number: i + 1,
                    source,
                })?;
        }
        // An explicit provider, so a second one linked in by some dependency can never make
        // the choice ambiguous (rustls panics then).
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports rustls's default protocol versions")
            .with_root_certificates(roots);
        let client_cert = identity.is_some();
        let mut config = match identity {
            Some(ClientIdentity { chain, key }) => builder
                .with_client_auth_cert(chain, key)
                .map_err(TlsSetupError::ClientCert)?,
            None => builder.with_no_client_auth(),
        };
        // HTTP/1.1 only: over HTTP/2 a server's TLS alert (such as "certificate required",
        // which TLS 1.3 sends after the handshake) reaches the client as a bare "broken pipe"
        // of the stream, and an operator could not tell a refused client certificate from a
        // network fault. One request per connection also keeps the pool limit meaningful.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            config: Arc::new(config),
            private_cas: private_cas.len(),
            client_cert,
        })
    }

    /// The webpki roots alone, no client certificate: what a table without TLS keys gets.
    ///
    /// Built once per process and shared: a rustls configuration costs about 22 KB (its
    /// root store and its session cache), which 10,000 connections would otherwise pay 10,000
    /// times. Sharing it is safe because it holds no identity: without a client certificate,
    /// a resumed TLS session carries nothing one connection could use as another's.
    pub fn webpki_roots() -> Self {
        static SHARED: OnceLock<ClientTls> = OnceLock::new();
        SHARED
            .get_or_init(|| {
                Self::new(&[], None)
                    .expect("the webpki roots and no client certificate always build")
            })
            .clone()
    }

    /// The rustls configuration, for `awc::Connector::rustls_0_23`.
    pub fn rustls_config(&self) -> Arc<ClientConfig> {
        Arc::clone(&self.config)
    }
}

impl Default for ClientTls {
    fn default() -> Self {
        Self::webpki_roots()
    }
}

/// A summary, never the certificates or the key.
impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientTls")
            .field("private_cas", &self.private_cas)
            .field("client_cert", &self.client_cert)
            .finish()
    }
}

/// An awc client that trusts `tls`, gives up opening a connection after `connect_timeout`
/// (TCP, and then again for the TLS handshake), pools at most `pool` connections and never
/// follows a redirect: a server that moved must be reconfigured, not guessed at. It has no
/// timeout of its own; callers time each phase of their requests themselves.
pub fn http_client(tls: &ClientTls, connect_timeout: Duration, pool: usize) -> awc::Client {
    let connector = awc::Connector::new()
        .rustls_0_23(tls.rustls_config())
        .timeout(connect_timeout)
        .handshake_timeout(connect_timeout)
        .limit(pool);
    awc::Client::builder()
        .connector(connector)
        .disable_timeout()
        .disable_redirects()
        .add_default_header((
            header::USER_AGENT,
            concat!("courier/", env!("CARGO_PKG_VERSION")),
        ))
        .finish()
}

/// What went wrong in TLS, when `err` is a TLS failure, in words an operator can act on.
///
/// A handshake failure surfaces while connecting; a server that refuses the client's
/// certificate (or its absence) after a TLS 1.3 handshake does so when the request is sent or
/// the response read, so every place an I/O error can come from is looked at.
pub fn tls_failure(err: &SendRequestError) -> Option<String> {
    let io = match err {
        SendRequestError::Connect(ConnectError::Io(io))
        | SendRequestError::Send(io)
        | SendRequestError::Response(ParseError::Io(io)) => io,
        _ => return None,
    };
    let tls = io.get_ref()?.downcast_ref::<rustls::Error>()?;
    Some(describe(tls))
}

/// rustls's own words, preceded by what they usually mean for a Courier operator.
fn describe(err: &rustls::Error) -> String {
    let hint = match err {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            "the server's certificate has an unknown issuer (a private CA goes in ca_file)"
        }
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => "the server's certificate is not valid for this host name",
        rustls::Error::InvalidCertificate(
            CertificateError::Expired | CertificateError::ExpiredContext { .. },
        ) => "the server's certificate has expired",
        rustls::Error::AlertReceived(
            AlertDescription::CertificateRequired
            | AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::HandshakeFailure,
        ) => {
            "the server refused the handshake, perhaps for want of a client certificate it \
             trusts (client_cert_file, client_key_file)"
        }
        _ => "the TLS handshake failed",
    };
    format!("TLS: {hint}: {err}")
}
