//! The configurations the torture gives Courier: one destination (the receiver) with a retry
//! schedule that outlasts the planned destination outage (so nothing is dead-lettered by
//! design), and connections paging through simulated EHRs with two enrichment steps and
//! short timings. The single instance keeps a sled store; the cluster shares a PostgreSQL
//! database.

use std::path::Path;
use std::time::Duration;

use crate::child::SECRET_ENV;

/// The environment variable the cluster's configuration names for the database URL.
pub const DATABASE_URL_ENV: &str = "COURIER_TORTURE_DATABASE_URL";

/// The single instance's configuration: a sled store in `store`, one connection (reading
/// the consume-once feed when `consume_once`).
pub fn single(
    store: &Path,
    destination_down: Duration,
    (connection, consume_once): (&str, bool),
    ehr_url: &str,
    receiver_url: &str,
) -> String {
    let connection = match consume_once {
        true => consume_once_toml(connection, ehr_url),
        false => connection_toml(connection, ehr_url),
    };
    format!(
        r#"# Written by courier-torture.
[store]
path = {store:?}

[runtime]
workers = 2
shutdown_grace_secs = 5

[admin]
listen = "127.0.0.1:0"

{destination}
{connection}"#,
        store = store.display().to_string(),
        destination = destination(destination_down, receiver_url),
    )
}

/// A cluster's configuration: a PostgreSQL store (URL in [`DATABASE_URL_ENV`]), leases of
/// `lease_secs`, and one connection per `(id, EHR URL)`. Every instance runs this same file;
/// `--instance` and `--admin-listen` tell them apart.
pub fn cluster(lease_secs: u64, connections: &[(String, String)], receiver_url: &str) -> String {
    let mut text = format!(
        r#"# Written by courier-torture --cluster.
[store]
backend = "postgres"
url_env = "{DATABASE_URL_ENV}"
schema = "courier"

[cluster]
lease_secs = {lease_secs}

[runtime]
workers = 2
shutdown_grace_secs = 5

{destination}"#,
        destination = destination(Duration::ZERO, receiver_url),
    );
    for (id, ehr_url) in connections {
        text.push('\n');
        text.push_str(&connection_toml(id, ehr_url));
    }
    text
}

/// The receiver as destination `app`; the retry schedule's steps are at most 5 s and outlast
/// twice the destination outage plus 20 s.
fn destination(destination_down: Duration, receiver_url: &str) -> String {
    let long_steps = ((destination_down.as_secs_f64() * 2.0 + 20.0) / 5.0).ceil() as usize;
    let mut schedule = vec!["0.05", "0.1", "0.2", "0.5", "1", "2", "4"];
    schedule.extend(std::iter::repeat_n("5", long_steps));
    format!(
        r#"[destinations.app]
url = {receiver_url:?}
secret_env = {SECRET_ENV:?}
timeout_ms = 5000
retry_schedule_secs = [{schedule}]
"#,
        schedule = schedule.join(", "),
    )
}

/// A connection reading the simulated EHR's consume-once feed 100 changes at a time, with
/// its re-read window (split, then paged by offset), enriched like [`connection_toml`]'s.
fn consume_once_toml(id: &str, ehr_url: &str) -> String {
    let changes = connection_toml(id, ehr_url);
    let (head, enrich) = changes.split_at(changes.find("\n[[").expect("enrich steps"));
    let head = head
        .replace("source = \"changes\"", "source = \"consume-once\"")
        .replace("/appointments/changed\"", "/appointments/changed-once\"")
        .replace("cursor_pointer = \"/seq\"\n", "");
    format!(
        r#"{head}
[connections.{id}.recovery]
start_param = "showprocessedstartdatetime"
end_param = "showprocessedenddatetime"
time_format = "%m/%d/%Y %H:%M:%S"
offset_param = "offset"
margin_secs = 5
{enrich}"#
    )
}

/// A connection paging through the simulated EHR at `ehr_url` 100 changes at a time, with
/// two enrichment GETs per change (appointment, patient).
fn connection_toml(id: &str, ehr_url: &str) -> String {
    format!(
        r#"[connections.{id}]
destination = "app"
source = "changes"
base_url = {ehr_url:?}
interval_secs = 0.2
request_timeout_ms = 5000
backoff_min_ms = 50
backoff_max_secs = 2
changes_path = "/appointments/changed"
page_size_param = "limit"
page_size = 100
key_pointer = "/id"
version_pointer = "/seq"
cursor_pointer = "/seq"
event_type = "appointment.updated"

[[connections.{id}.enrich]]
name = "appointment"
path = "/appointments/{{/id}}"

[[connections.{id}.enrich]]
name = "patient"
path = "/patients/{{/patientId}}"
"#
    )
}
