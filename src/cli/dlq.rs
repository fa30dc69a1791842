//! `courier dlq list|show|retry|purge`: dead letters of a running instance, through its
//! admin API (a sled store admits one process, so the CLI never opens it itself; on a
//! PostgreSQL store any instance of the cluster acts on every connection's dead letters).

use std::process::ExitCode;

use clap::{Args, Subcommand};
use courier::admin::client::{AdminClient, ClientError};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::Value;

/// Arguments of `courier dlq`.
#[derive(Args)]
pub struct DlqArgs {
    /// Where the running instance's admin API is.
    #[command(flatten)]
    admin: super::AdminArgs,
    /// What to do.
    #[command(subcommand)]
    action: DlqAction,
}

/// Which dead letters a list or a bulk action concerns.
#[derive(Args, Default)]
struct Filter {
    /// Only those of this destination.
    #[arg(long)]
    destination: Option<String>,
    /// Only those of this connection.
    #[arg(long)]
    connection: Option<String>,
}

/// The `courier dlq` actions.
#[derive(Subcommand)]
enum DlqAction {
    /// List dead letters: id, connection and sequence, destination, attempts, last error.
    List {
        #[command(flatten)]
        filter: Filter,
        /// Print the API's JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one dead letter with every attempt.
    Show {
        /// The notification id.
        id: String,
        /// Also print the notification body (it holds patient data).
        #[arg(long)]
        body: bool,
    },
    /// Send dead letters back to pending: delivered again with the same id and sequence.
    Retry(Selection),
    /// Delete dead letters for good.
    Purge(Selection),
}

/// One dead letter by id, or every one a filter (or `--all`) matches.
#[derive(Args)]
struct Selection {
    /// The notification id.
    #[arg(conflicts_with_all = ["destination", "connection", "all"], required_unless_present_any = ["destination", "connection", "all"])]
    id: Option<String>,
    #[command(flatten)]
    filter: Filter,
    /// Every dead letter.
    #[arg(long)]
    all: bool,
}

impl Filter {
    /// `destination=…&connection=…`, values percent-encoded.
    fn query(&self) -> String {
        let pairs = [
            ("destination", &self.destination),
            ("connection", &self.connection),
        ];
        let pairs = pairs.into_iter().filter_map(|(key, value)| {
            let value = value.as_deref()?;
            Some(format!(
                "{key}={}",
                utf8_percent_encode(value, NON_ALPHANUMERIC)
            ))
        });
        pairs.collect::<Vec<_>>().join("&")
    }
}

impl Selection {
    /// The path of this selection's action below `/dead-letters`, and the suffix for retry.
    fn path(&self, retry: bool) -> String {
        match &self.id {
            Some(id) => {
                let id = utf8_percent_encode(id, NON_ALPHANUMERIC);
                if retry {
                    format!("/dead-letters/{id}/retry")
                } else {
                    format!("/dead-letters/{id}")
                }
            }
            None => {
                let mut query = self.filter.query();
                if self.all {
                    query = if query.is_empty() {
                        "all=true".into()
                    } else {
                        format!("{query}&all=true")
                    };
                }
                let base = if retry {
                    "/dead-letters/retry"
                } else {
                    "/dead-letters"
                };
                format!("{base}?{query}")
            }
        }
    }
}

/// Runs a `courier dlq` action; exit 1 when the API cannot be reached or refuses.
pub fn run(args: &DlqArgs) -> ExitCode {
    let client = match args.admin.client() {
        Ok(client) => client,
        Err(code) => return code,
    };
    let done = actix_rt::System::new().block_on(async move { act(&client, &args.action).await });
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{err}");
            ExitCode::from(1)
        }
    }
}

async fn act(client: &AdminClient, action: &DlqAction) -> Result<(), ClientError> {
    match action {
        DlqAction::List { filter, json } => list(client, filter, *json).await,
        DlqAction::Show { id, body } => {
            let id = utf8_percent_encode(id, NON_ALPHANUMERIC).to_string();
            let letter = client.get(&format!("/dead-letters/{id}")).await?;
            print!("{}", render_letter(&letter, *body));
            Ok(())
        }
        DlqAction::Retry(selection) => {
            let outcome = client.post(&selection.path(true)).await?;
            println!(
                "retried {} dead letters{}",
                outcome["retried"],
                ids(&outcome)
            );
            if let Some(waiting) = outcome["waiting"].as_array().filter(|w| !w.is_empty()) {
                let names: Vec<&str> = waiting.iter().filter_map(Value::as_str).collect();
                println!(
                    "not running (delivered when they start): {}",
                    names.join(", ")
                );
            }
            for (connection, instance) in outcome["elsewhere"].as_object().into_iter().flatten() {
                println!(
                    "{connection}: runs on instance {}, which delivers them",
                    instance.as_str().unwrap_or("?")
                );
            }
            Ok(())
        }
        DlqAction::Purge(selection) => {
            let outcome = client.delete(&selection.path(false)).await?;
            println!("purged {} dead letters{}", outcome["purged"], ids(&outcome));
            Ok(())
        }
    }
}

/// Lists every page.
async fn list(client: &AdminClient, filter: &Filter, json: bool) -> Result<(), ClientError> {
    let mut after: Option<String> = None;
    let mut letters = Vec::new();
    loop {
        let mut query = filter.query();
        if let Some(after) = &after {
            let after = utf8_percent_encode(after, NON_ALPHANUMERIC);
            query = format!("{query}&after={after}");
        }
        let page = client.get(&format!("/dead-letters?{query}")).await?;
        letters.extend(page["dead_letters"].as_array().cloned().unwrap_or_default());
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
    }
    if json {
        println!("{:#}", Value::Array(letters));
    } else {
        print!("{}", render_list(&letters));
    }
    Ok(())
}

/// `: id, id, …` for an outcome's ids, or nothing.
fn ids(outcome: &Value) -> String {
    let ids: Vec<&str> = outcome["ids"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if ids.is_empty() {
        String::new()
    } else {
        format!(": {}", ids.join(", "))
    }
}

/// The list as aligned columns, one dead letter per line.
fn render_list(letters: &[Value]) -> String {
    if letters.is_empty() {
        return "no dead letters\n".into();
    }
    let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_owned);
    let mut rows = vec![[
        "ID",
        "CONNECTION/SEQ",
        "DESTINATION",
        "DEAD AT",
        "ATTEMPTS",
        "LAST ERROR",
    ]
    .map(String::from)];
    for l in letters {
        rows.push([
            text(&l["id"]),
            format!("{}/{}", text(&l["connection"]), l["sequence"]),
            text(&l["destination"]),
            text(&l["dead_at"]),
            l["attempts"].to_string(),
            text(&l["last_error"]),
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// One dead letter: what it is, why it died, every attempt, and the body when asked.
fn render_letter(letter: &Value, body: bool) -> String {
    let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_owned);
    let mut out = format!(
        "id:          {}\nconnection:  {} (sequence {})\ndestination: {}\ndead at:     {}\nreason:      {}\nattempts:\n",
        text(&letter["notification_id"]),
        text(&letter["connection"]),
        letter["sequence"],
        text(&letter["destination"]),
        text(&letter["dead_at"]),
        text(&letter["reason"]),
    );
    for attempt in letter["attempts"].as_array().into_iter().flatten() {
        let status = attempt["status"]
            .as_u64()
            .map_or("-".into(), |s| s.to_string());
        out.push_str(&format!(
            "  {}  {status}  {}\n",
            text(&attempt["at"]),
            text(&attempt["error"])
        ));
    }
    if body {
        out.push_str(&format!("body:\n{:#}\n", letter["body"]));
    }
    out
}
