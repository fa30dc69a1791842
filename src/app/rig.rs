//! The real actor tree between simulated EHRs and a receiver on loopback, for the crate's own
//! tests that inject a panic into a connection (`actors::faults`, compiled only for them);
//! every other end-to-end test lives in `tests/it` with its richer rig.

use std::path::Path;
use std::time::Duration;

pub(crate) use courier_sim::eventually;
use courier_sim::{ReceiverOptions, SimEhr, SimEhrOptions, SimReceiver};

use super::{App, AppOptions};
use crate::admin::{AdminServer, AdminState};
use crate::delivery::signing::SigningKey;
use crate::store::Store;

/// The environment variable the rig's configuration names for the destination secret.
const SECRET_ENV: &str = "COURIER_RIG_SECRET";
/// Ten seconds: generous for loopback, short enough to fail fast.
pub(crate) const PATIENCE: Duration = Duration::from_secs(10);

/// A running Courier: one simulated EHR per connection, one receiver, a temporary store.
pub(crate) struct Rig {
    /// The running service.
    pub app: App,
    /// Each connection's EHR, in the order of the ids given.
    pub ehrs: Vec<SimEhr>,
    /// The destination `app`.
    pub receiver: SimReceiver,
    /// Keeps the store until the test ends.
    _dir: tempfile::TempDir,
}

impl Rig {
    /// Starts one EHR with `ehr` options per connection id, a receiver, and Courier with test
    /// timings (50 ms polls, backoffs of 20 to 200 ms).
    pub(crate) fn start(ids: &[&str], ehr: SimEhrOptions) -> Self {
        let ehrs: Vec<SimEhr> = ids
            .iter()
            .map(|_| SimEhr::start(ehr.clone()).expect("simulated EHR starts"))
            .collect();
        let secret = SigningKey::generate_secret();
        let receiver = SimReceiver::start(ReceiverOptions::new(secret.clone())).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let text = config_text(dir.path(), &receiver.url(), ids, &ehrs);
        let env = |name: &str| (name == SECRET_ENV).then(|| secret.clone());
        let config = crate::config::parse(&text, Path::new("rig.toml"), &env)
            .unwrap_or_else(|errors| panic!("rig config refused:\n{errors}"));
        let app = App::start(
            config,
            Store::open(dir.path()).unwrap(),
            AppOptions::default(),
        );
        Self {
            app,
            ehrs,
            receiver,
            _dir: dir,
        }
    }

    /// The admin API of the app on a free loopback port, without a token or reloads.
    pub(crate) fn admin(&self) -> AdminServer {
        let state = AdminState::of(&self.app, None, None, None);
        AdminServer::start("127.0.0.1:0".parse().unwrap(), state).expect("the admin API starts")
    }
}

/// Destination `app` at `receiver_url` and connection `ids[i]` on `ehrs[i]`, each reading the
/// simulated changes feed and enriching with the appointment and its patient.
fn config_text(store: &Path, receiver_url: &str, ids: &[&str], ehrs: &[SimEhr]) -> String {
    let mut text = format!(
        "[store]\npath = {:?}\n[runtime]\nworkers = 2\nshutdown_grace_secs = 2\n\
         [destinations.app]\nurl = {receiver_url:?}\nsecret_env = {SECRET_ENV:?}\n\
         timeout_ms = 2000\nretry_schedule_secs = [0.05, 0.1, 0.2, 0.4]\n",
        store.display().to_string()
    );
    for (id, ehr) in ids.iter().zip(ehrs) {
        text.push_str(&format!(
            "[connections.{id}]\ndestination = \"app\"\nsource = \"changes\"\n\
             base_url = {:?}\ninterval_secs = 0.05\nrequest_timeout_ms = 2000\n\
             backoff_min_ms = 20\nbackoff_max_secs = 0.2\n\
             changes_path = \"/appointments/changed\"\npage_size_param = \"limit\"\n\
             page_size = 50\nkey_pointer = \"/id\"\nversion_pointer = \"/seq\"\n\
             cursor_pointer = \"/seq\"\nevent_type = \"appointment.updated\"\n\
             [[connections.{id}.enrich]]\nname = \"appointment\"\npath = \"/appointments/{{/id}}\"\n\
             [[connections.{id}.enrich]]\nname = \"patient\"\npath = \"/patients/{{/patientId}}\"\n",
            ehr.base_url()
        ));
    }
    text
}
