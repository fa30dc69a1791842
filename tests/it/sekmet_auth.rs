//! Authenticating to a real FHIR server: sekmet-fhir in its `bearer` and `smart` modes, with
//! Courier's changes source polling its Appointment history.

use std::time::Duration;

use courier::app::{App, AppOptions};
use courier::clock::{Clock, ManualClock};
use courier::store::Store;
use courier_sim::SimReceiver;

use crate::support::app::{config_text, eventually, parse_config_with, start_receiver, PATIENCE};
use crate::support::sekmet::{
    appointment, history_connection, patient, Sekmet, SekmetAuth, SekmetOptions,
};

/// Courier polling `sekmet` with `auth` (TOML lines of the `[connections.sekmet.auth]` table)
/// and the secrets in `env`.
struct Polling {
    app: App,
    receiver: SimReceiver,
    _dir: tempfile::TempDir,
}

fn poll(sekmet: &Sekmet, auth: &str, env: &[(&str, &str)]) -> Polling {
    poll_by(sekmet, auth, env, Clock::system())
}

/// [`poll`], with Courier reading the time from `clock`.
fn poll_by(sekmet: &Sekmet, auth: &str, env: &[(&str, &str)], clock: Clock) -> Polling {
    let (receiver, secret) = start_receiver();
    let dir = tempfile::tempdir().unwrap();
    let text = config_text(dir.path(), &receiver.url(), "", &[]);
    let auth = format!("[connections.sekmet.auth]\n{auth}");
    let text = format!("{text}\n{}", history_connection(&sekmet.base_url(), &auth));
    let config = parse_config_with(&text, &secret, env);
    let app = App::start(
        config,
        Store::open(dir.path()).unwrap(),
        AppOptions { clock },
    );
    Polling {
        app,
        receiver,
        _dir: dir,
    }
}

#[actix_rt::test]
async fn a_static_bearer_token_opens_a_bearer_server() {
    let sekmet = Sekmet::start(SekmetAuth::Bearer {
        token: "t0ken-for-tests".into(),
    });
    sekmet.put(&patient("p1"));
    sekmet.put(&appointment("a1", "p1", "booked"));
    let courier = poll(
        &sekmet,
        "type = \"bearer\"\ntoken_env = \"SEKMET_TOKEN\"",
        &[("SEKMET_TOKEN", "t0ken-for-tests")],
    );
    eventually("the appointment", PATIENCE, || {
        courier.receiver.unique_accepted_ids() == 1
    })
    .await;
    let data = &courier.receiver.accepted()[0].json["data"];
    assert_eq!(
        data["resources"]["patient"]["id"], "p1",
        "enrichment is authenticated too"
    );
}

#[actix_rt::test]
async fn smart_client_credentials_get_tokens_refresh_them_and_keep_delivering() {
    let sekmet = Sekmet::start_with(SekmetOptions {
        auth: SekmetAuth::Smart {
            client_id: "courier".into(),
            client_secret: "s3cret-for-tests".into(),
            scopes: "system/Appointment.rs system/Patient.rs".into(),
        },
        token_lifetime_secs: 2,
    });
    sekmet.put(&patient("p1"));
    sekmet.put(&appointment("a1", "p1", "booked"));
    let auth = format!(
        "type = \"client_credentials\"\ntoken_url = {:?}\nclient_id = \"courier\"\n\
         client_secret_env = \"SEKMET_SECRET\"\nscope = \"system/Appointment.rs system/Patient.rs\"",
        sekmet.token_url()
    );
    let clock = ManualClock::running();
    let env = [("SEKMET_SECRET", "s3cret-for-tests")];
    let courier = poll_by(&sekmet, &auth, &env, clock.clock());
    eventually("the first appointment", PATIENCE, || {
        courier.receiver.unique_accepted_ids() == 1
    })
    .await;
    let grants = sekmet.token_grants();
    // Past the two-second token lifetime by Courier's clock: polling goes on with a fresh
    // token, which Courier asks for itself (the harness's write below asks for one more).
    clock.advance(Duration::from_millis(2500));
    sekmet.put(&appointment("a2", "p1", "booked"));
    eventually("a change after the first token expired", PATIENCE, || {
        courier.receiver.unique_accepted_ids() == 2
    })
    .await;
    eventually("a fresh token for Courier", PATIENCE, || {
        sekmet.token_grants() >= grants + 2
    })
    .await;
    let status = courier.app.status().connections["sekmet"].clone();
    assert_eq!(status.last_error, None);
    assert_eq!(status.enrich_error, None);
}

#[actix_rt::test]
async fn a_refused_client_secret_shows_in_status_and_moves_nothing() {
    let sekmet = Sekmet::start(SekmetAuth::Smart {
        client_id: "courier".into(),
        client_secret: "the-right-one".into(),
        scopes: "system/Appointment.rs".into(),
    });
    sekmet.put(&patient("p1"));
    sekmet.put(&appointment("a1", "p1", "booked"));
    let auth = format!(
        "type = \"client_credentials\"\ntoken_url = {:?}\nclient_id = \"courier\"\n\
         client_secret_env = \"SEKMET_SECRET\"\nscope = \"system/Appointment.rs\"",
        sekmet.token_url()
    );
    let courier = poll(&sekmet, &auth, &[("SEKMET_SECRET", "a-wrong-one")]);
    eventually("two failed polls", PATIENCE, || {
        courier.app.status().connections["sekmet"].consecutive_failures >= 2
    })
    .await;
    let status = courier.app.status().connections["sekmet"].clone();
    let error = status.last_error.expect("the error is shown");
    assert!(error.contains("invalid_client"), "{error}");
    assert!(
        !error.contains("a-wrong-one"),
        "the secret is not shown: {error}"
    );
    assert_eq!(status.cursor, None, "the cursor did not move");
    assert_eq!(courier.receiver.received().len(), 0);
}
