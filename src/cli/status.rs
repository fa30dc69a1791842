//! `courier status`: what a running instance is doing, as a table, from its admin API.

use std::process::ExitCode;

use clap::Args;

/// Arguments of `courier status`.
#[derive(Args)]
pub struct StatusArgs {
    /// Where the running instance's admin API is.
    #[command(flatten)]
    admin: super::AdminArgs,
    /// Print the status JSON as the API answers it.
    #[arg(long)]
    json: bool,
}

/// Prints the running instance's status; exit 1 when it cannot be reached.
pub fn run(args: &StatusArgs) -> ExitCode {
    let client = match args.admin.client() {
        Ok(client) => client,
        Err(code) => return code,
    };
    let answer = actix_rt::System::new().block_on(async move { client.get("/status").await });
    match answer {
        Ok(status) if args.json => {
            println!("{status:#}");
            ExitCode::SUCCESS
        }
        Ok(status) => {
            print!("{}", courier::admin::table::render(&status, color()));
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("{err}");
            ExitCode::from(1)
        }
    }
}

/// Colour only for a person at a terminal, and not when `NO_COLOR` is set.
fn color() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}
