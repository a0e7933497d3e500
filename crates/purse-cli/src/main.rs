//! `purse`: command-line client for Purse's gRPC APIs (wallets, top-ups, payment methods).
//! Parses arguments, runs one command, prints the result and maps any error to one stderr line
//! and an exit code (see `purse --help`).

mod args;
mod commands;
mod error;
mod output;

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use crate::args::Cli;
use purse_client::{Client, Target};

use crate::commands::Outcome;
use crate::error::{CliError, EXIT_OK};

fn main() -> ExitCode {
    // clap prints usage errors itself and exits 2 (0 for --help and --version).
    let cli = Cli::parse();
    let json = cli.json;
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::Output)
        .and_then(|runtime| runtime.block_on(run(cli)));
    let failure = match result {
        Ok(outcome) => print(&outcome, json).err().or_else(|| outcome.failure()),
        Err(err) => Some(err),
    };
    match failure {
        None => ExitCode::from(EXIT_OK),
        Some(err) => {
            eprintln!("{}", output::render_error(&err, json));
            ExitCode::from(err.exit_code())
        }
    }
}

async fn run(cli: Cli) -> Result<Outcome, CliError> {
    // Local input is checked before connecting: a bad file is reported even with no server.
    let call = commands::prepare(cli.command, commands::now_ms())?;
    let target = Target::parse(&cli.endpoint)?;
    let timeout = Duration::from_millis(cli.timeout_ms);
    let client = Client::connect_within(&target, cli.token.as_deref(), timeout).await?;
    commands::execute(&client, call).await
}

fn print(outcome: &Outcome, json: bool) -> Result<(), CliError> {
    let mut stdout = std::io::stdout().lock();
    // A message this build cannot encode (an enum value from a newer server) fails like a write.
    let lines = output::render(outcome, json).map_err(|err| CliError::Output(err.into()))?;
    let written = lines
        .into_iter()
        .try_for_each(|line| writeln!(stdout, "{line}"))
        .and_then(|()| stdout.flush());
    match written {
        // A closed pipe (`purse history ... | head`) is the reader's choice, not a failure.
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.map_err(CliError::Output),
    }
}
