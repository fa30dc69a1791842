//! TLS for the integration tests: a private CA with server and client certificates generated
//! per test (rcgen), written as PEM files, and HTTPS servers on loopback presenting them: a
//! tiny EHR changes feed and a receiver that accepts every POST.

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use actix_web::dev::{ServerHandle, Service};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use serde_json::json;

/// A private CA, a server certificate it signed for `127.0.0.1` and `localhost`, and a
/// client certificate it signed, with the PEM files a configuration names.
pub struct Pki {
    dir: tempfile::TempDir,
    ca: CertificateDer<'static>,
    server_chain: Vec<CertificateDer<'static>>,
    server_key: Vec<u8>,
}

/// Whether an HTTPS server asks the client for a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// Any client may connect.
    None,
    /// Only a client presenting a certificate the CA signed.
    Required,
}

impl Pki {
    /// Generates the CA and certificates and writes `ca.pem`, `client.pem` and `client.key`.
    pub fn new() -> Pki {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Courier test CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate().unwrap();
        let mut server_params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
        server_params
            .extended_key_usages
            .push(ExtendedKeyUsagePurpose::ServerAuth);
        let server = server_params.signed_by(&server_key, &issuer).unwrap();

        let client_key = KeyPair::generate().unwrap();
        let mut client_params = CertificateParams::new(vec!["courier".to_owned()]).unwrap();
        client_params
            .extended_key_usages
            .push(ExtendedKeyUsagePurpose::ClientAuth);
        let client = client_params.signed_by(&client_key, &issuer).unwrap();

        let dir = tempfile::tempdir().unwrap();
        for (name, pem) in [
            ("ca.pem", ca.pem()),
            ("client.pem", client.pem()),
            ("client.key", client_key.serialize_pem()),
        ] {
            std::fs::write(dir.path().join(name), pem).unwrap();
        }
        Pki {
            dir,
            ca: ca.der().clone(),
            server_chain: vec![server.der().clone()],
            server_key: server_key.serialize_der(),
        }
    }

    /// `key = "<path of file>"`, a TOML value for a configuration.
    pub fn file(&self, name: &str) -> String {
        format!("{:?}", self.dir.path().join(name).display().to_string())
    }

    /// The rustls configuration of a server presenting the server certificate.
    pub fn server_config(&self, client_auth: ClientAuth) -> ServerConfig {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = match client_auth {
            ClientAuth::None => builder.with_no_client_auth(),
            ClientAuth::Required => {
                let mut roots = RootCertStore::empty();
                roots.add(self.ca.clone()).unwrap();
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .build()
                        .unwrap();
                builder.with_client_cert_verifier(verifier)
            }
        };
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key.clone()));
        builder
            .with_single_cert(self.server_chain.clone(), key)
            .unwrap()
    }
}

/// An HTTPS server on a loopback port, on the current actix System.
pub struct HttpsServer {
    addr: SocketAddr,
    /// Requests it answered.
    requests: Arc<AtomicUsize>,
    _handle: ServerHandle,
}

impl HttpsServer {
    /// `https://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.addr)
    }

    /// Requests answered so far (a refused handshake is none).
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// What an HTTPS test server serves.
#[derive(Debug, Clone, Copy)]
enum Role {
    /// A tiny EHR under `/api`.
    Ehr,
    /// A receiver at `/hooks`.
    Receiver,
}

/// A tiny EHR under `/api`: a changes feed holding one change (`seq` 1 of `appt-1`, patient
/// `pat-1`) and the two records it refers to.
pub fn tiny_ehr(config: ServerConfig) -> HttpsServer {
    serve(config, Role::Ehr)
}

/// A receiver at `/hooks` that answers every POST with 204, without checking signatures (the
/// pipeline tests do that).
pub fn accepting_receiver(config: ServerConfig) -> HttpsServer {
    serve(config, Role::Receiver)
}

fn serve(config: ServerConfig, role: Role) -> HttpsServer {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&requests);
    let server = HttpServer::new(move || {
        let counter = Arc::clone(&counter);
        let app = App::new().wrap_fn(move |request, service| {
            counter.fetch_add(1, Ordering::SeqCst);
            service.call(request)
        });
        match role {
            Role::Ehr => app
                .route("/api/appointments/changed", web::get().to(feed))
                .route("/api/appointments/{id}", web::get().to(record))
                .route("/api/patients/{id}", web::get().to(record)),
            Role::Receiver => app.route("/hooks", web::post().to(HttpResponse::NoContent)),
        }
    })
    .workers(1)
    .disable_signals()
    .listen_rustls_0_23(listener, config)
    .unwrap()
    .run();
    let handle = server.handle();
    actix_rt::spawn(server);
    HttpsServer {
        addr,
        requests,
        _handle: handle,
    }
}

async fn feed(request: HttpRequest) -> HttpResponse {
    let since =
        web::Query::<std::collections::HashMap<String, String>>::from_query(request.query_string())
            .ok()
            .and_then(|query| query.get("since").and_then(|s| s.parse::<u64>().ok()))
            .unwrap_or(0);
    let items = if since < 1 {
        json!([{ "seq": 1, "id": "appt-1", "patientId": "pat-1" }])
    } else {
        json!([])
    };
    HttpResponse::Ok().json(items)
}

async fn record(request: HttpRequest) -> HttpResponse {
    let id = request
        .match_info()
        .get("id")
        .unwrap_or_default()
        .to_owned();
    HttpResponse::Ok().json(json!({ "id": id, "path": request.path() }))
}
