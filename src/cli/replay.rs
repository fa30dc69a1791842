//! `courier replay`: re-send a destination's delivered notifications (same ids, same bodies)
//! through a running instance's admin API, printing progress and a summary.

use std::process::ExitCode;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::Args;
use courier::admin::client::{AdminClient, ClientError};
use serde_json::{json, Value};

/// How often progress is asked for.
const POLL_EVERY: Duration = Duration::from_millis(250);

/// Arguments of `courier replay`.
#[derive(Args)]
pub struct ReplayArgs {
    /// Where the running instance's admin API is.
    #[command(flatten)]
    admin: super::AdminArgs,
    /// The destination whose deliveries are sent again.
    #[arg(long)]
    destination: String,
    /// Delivered at or after this time (RFC 3339, such as 2026-11-26T10:00:00Z).
    #[arg(long)]
    since: DateTime<Utc>,
    /// Delivered before this time (RFC 3339); up to now by default.
    #[arg(long)]
    until: Option<DateTime<Utc>>,
    /// Only this connection's notifications.
    #[arg(long)]
    connection: Option<String>,
}

/// Exit code of a replay that sent everything it could read, all accepted, but skipped
/// damaged retained records: they were not sent, and an operator should know.
const SKIPPED_DAMAGED: u8 = 3;

/// Runs a replay to its end; exit 0 when every notification was accepted, 1 when some failed
/// or the replay stopped early, [`SKIPPED_DAMAGED`] when damaged records were skipped.
pub fn run(args: &ReplayArgs) -> ExitCode {
    let client = match args.admin.client() {
        Ok(client) => client,
        Err(code) => return code,
    };
    let request = json!({
        "destination": args.destination,
        "since": args.since,
        "until": args.until,
        "connection": args.connection,
    });
    let end = actix_rt::System::new().block_on(async move { replay(&client, &request).await });
    match end {
        Ok(progress) => {
            println!(
                "replay {}: {} sent, {} failed of {}",
                text(&progress["state"]),
                progress["sent"],
                progress["failed"],
                progress["total"]
            );
            let skipped = progress["skipped"].as_u64().unwrap_or(0);
            if skipped > 0 {
                println!(
                    "  skipped {skipped} damaged stretch(es) of retained records (each one notification or more, not sent; the log says where)"
                );
            }
            for failure in progress["failures"].as_array().into_iter().flatten() {
                println!(
                    "  failed {}: {}",
                    text(&failure["id"]),
                    text(&failure["error"])
                );
            }
            if let Some(error) = progress["error"].as_str() {
                println!("  stopped early: {error}");
            }
            let clean = progress["state"] == "finished" && progress["failed"] == 0;
            match (clean, skipped) {
                (false, _) => ExitCode::from(1),
                (true, 0) => ExitCode::SUCCESS,
                (true, _) => ExitCode::from(SKIPPED_DAMAGED),
            }
        }
        Err(err) => {
            eprintln!("{err}");
            ExitCode::from(1)
        }
    }
}

/// Starts the job and follows it, printing a line whenever its counts change; returns its
/// final progress.
async fn replay(client: &AdminClient, request: &Value) -> Result<Value, ClientError> {
    let started = client.post_json("/replay", request).await?;
    let job = &started["job"];
    let mut shown = None;
    loop {
        let progress = client.get(&format!("/replay/{job}")).await?;
        let counts = (progress["sent"].clone(), progress["failed"].clone());
        if shown.as_ref() != Some(&counts) {
            println!(
                "sent {} failed {} of {}",
                counts.0, counts.1, progress["total"]
            );
            shown = Some(counts);
        }
        if progress["state"] != "running" {
            return Ok(progress);
        }
        actix_rt::time::sleep(POLL_EVERY).await;
    }
}

fn text(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned)
}
