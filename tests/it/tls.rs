//! TLS end to end: an EHR and a receiver behind a private CA that the test generates, with
//! and without `ca_file`, and an EHR that requires a client certificate (mutual TLS).

use courier::app::{App, AppOptions};
use courier::delivery::signing::SigningKey;
use courier::status::{ConnectionStatus, DestinationStatus};
use courier::store::Store;

use crate::support::app::{
    config_text, eventually, parse_config, start_receiver, ConnectionSpec, PATIENCE,
};
use crate::support::tls::{accepting_receiver, tiny_ehr, ClientAuth, HttpsServer, Pki};

/// Courier with one connection `clinic-a` to `base_url` and destination `app` at
/// `receiver_url`, with extra keys for each.
struct Courier {
    app: App,
    _dir: tempfile::TempDir,
}

impl Courier {
    fn start(
        base_url: String,
        connection_keys: &[(&'static str, String)],
        receiver_url: &str,
        destination_extra: &str,
        secret: &str,
    ) -> Courier {
        let dir = tempfile::tempdir().unwrap();
        let spec = ConnectionSpec {
            id: "clinic-a".to_owned(),
            base_url,
            overrides: connection_keys.to_vec(),
            removed: Vec::new(),
        };
        let text = config_text(dir.path(), receiver_url, destination_extra, &[spec]);
        let config = parse_config(&text, secret);
        let store = Store::open(dir.path()).unwrap();
        Courier {
            app: App::start(config, store, AppOptions::default()),
            _dir: dir,
        }
    }

    fn connection(&self) -> ConnectionStatus {
        let status = self.app.status();
        status
            .connections
            .get("clinic-a")
            .cloned()
            .unwrap_or_default()
    }

    fn destination(&self) -> DestinationStatus {
        let status = self.app.status();
        status.destinations.get("app").cloned().unwrap_or_default()
    }

    /// The failed connection's error, once it failed twice (so it is retrying, not stuck).
    async fn poll_error(&self) -> String {
        eventually("two failed polls", PATIENCE, || {
            self.connection().polls_failed >= 2
        })
        .await;
        self.connection()
            .last_error
            .expect("the error shows in status")
    }

    /// Asserts that no page was taken: the cursor and the sequence are where they started.
    async fn assert_cursor_did_not_move(&self) {
        assert_eq!(self.connection().cursor, None);
        let state = self.app.store().connection_state("clinic-a", "0");
        let state = state.await.unwrap();
        assert_eq!(state.cursor.value.to_string(), "0");
        assert_eq!(state.next_sequence, 1);
    }
}

fn ehr_url(ehr: &HttpsServer) -> String {
    ehr.url("/api")
}

#[actix_rt::test]
async fn an_ehr_behind_a_private_ca_is_polled_and_enriched_once_ca_file_names_it() {
    let pki = Pki::new();
    let ehr = tiny_ehr(pki.server_config(ClientAuth::None));
    let (receiver, secret) = start_receiver();
    let keys = [("ca_file", pki.file("ca.pem"))];
    let courier = Courier::start(ehr_url(&ehr), &keys, &receiver.url(), "", &secret);
    eventually("the change delivered", PATIENCE, || {
        receiver.unique_accepted_ids() == 1
    })
    .await;
    let notification = &receiver.accepted()[0].json["data"];
    assert_eq!(notification["resources"]["appointment"]["id"], "appt-1");
    assert_eq!(notification["resources"]["patient"]["id"], "pat-1");
    eventually("the cursor at 1", PATIENCE, || {
        courier.connection().cursor.as_deref() == Some("1")
    })
    .await;
}

#[actix_rt::test]
async fn without_ca_file_the_poll_fails_on_the_unknown_issuer_and_the_cursor_stays() {
    let pki = Pki::new();
    let ehr = tiny_ehr(pki.server_config(ClientAuth::None));
    let (receiver, secret) = start_receiver();
    let courier = Courier::start(ehr_url(&ehr), &[], &receiver.url(), "", &secret);
    let error = courier.poll_error().await;
    assert_eq!(
        error,
        "request to /appointments/changed failed: TLS: the server's certificate has an unknown \
         issuer (a private CA goes in ca_file): invalid peer certificate: UnknownIssuer"
    );
    courier.assert_cursor_did_not_move().await;
    assert_eq!(ehr.requests(), 0, "no request went past the handshake");
    assert_eq!(receiver.summary().delivered, 0);
}

#[actix_rt::test]
async fn mutual_tls_works_when_the_ehr_requires_a_client_certificate() {
    let pki = Pki::new();
    let ehr = tiny_ehr(pki.server_config(ClientAuth::Required));
    let (receiver, secret) = start_receiver();
    let keys = [
        ("ca_file", pki.file("ca.pem")),
        ("client_cert_file", pki.file("client.pem")),
        ("client_key_file", pki.file("client.key")),
    ];
    let _courier = Courier::start(ehr_url(&ehr), &keys, &receiver.url(), "", &secret);
    eventually("the change delivered", PATIENCE, || {
        receiver.unique_accepted_ids() == 1
    })
    .await;
    assert!(ehr.requests() >= 3, "the feed and two records were read");
}

#[actix_rt::test]
async fn an_ehr_requiring_a_client_certificate_refuses_a_client_without_one() {
    let pki = Pki::new();
    let ehr = tiny_ehr(pki.server_config(ClientAuth::Required));
    let (receiver, secret) = start_receiver();
    let keys = [("ca_file", pki.file("ca.pem"))];
    let courier = Courier::start(ehr_url(&ehr), &keys, &receiver.url(), "", &secret);
    let error = courier.poll_error().await;
    assert_eq!(
        error,
        "request to /appointments/changed failed: TLS: the server refused the handshake, \
         perhaps for want of a client certificate it trusts (client_cert_file, \
         client_key_file): received fatal alert: CertificateRequired"
    );
    courier.assert_cursor_did_not_move().await;
    assert_eq!(ehr.requests(), 0);
}

#[actix_rt::test]
async fn a_receiver_behind_a_private_ca_is_delivered_to_once_the_destination_names_it() {
    let pki = Pki::new();
    let ehr = courier_sim::SimEhr::start(Default::default()).unwrap();
    ehr.touch("appt-1");
    let secret = SigningKey::generate_secret();

    let untrusted = accepting_receiver(pki.server_config(ClientAuth::None));
    let courier = Courier::start(ehr.base_url(), &[], &untrusted.url("/hooks"), "", &secret);
    eventually("a failed delivery attempt", PATIENCE, || {
        courier.destination().failed_attempts >= 1
    })
    .await;
    let error = courier.destination().last_error.unwrap_or_default();
    assert!(error.contains("unknown issuer"), "{error}");
    assert_eq!(untrusted.requests(), 0);

    let trusted = accepting_receiver(pki.server_config(ClientAuth::None));
    let ca_file = format!("ca_file = {}\n", pki.file("ca.pem"));
    let courier = Courier::start(
        ehr.base_url(),
        &[],
        &trusted.url("/hooks"),
        &ca_file,
        &secret,
    );
    eventually("a delivery", PATIENCE, || {
        courier.destination().delivered >= 1
    })
    .await;
    assert_eq!(trusted.requests(), 1);
}
