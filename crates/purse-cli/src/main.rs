//! `purse`: command-line client for Purse's gRPC APIs (wallets, top-ups, payment methods).
//! Parses arguments, runs one command, prints the result and maps any error to one stderr line
//! and an exit code (see `purse --help`).

mod args;
mod commands;
mod error;
mod output;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use crate::args::Cli;
use crate::commands::{Client, Outcome};
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
    let client = Client::connect(&cli.endpoint, cli.token.as_deref(), cli.timeout_ms).await?;
    commands::execute(&client, call).await
}

fn print(outcome: &Outcome, json: bool) -> Result<(), CliError> {
    let mut stdout = std::io::stdout().lock();
    let written = output::render(outcome, json)
        .into_iter()
        .try_for_each(|line| writeln!(stdout, "{line}"))
        .and_then(|()| stdout.flush());
    match written {
        // A closed pipe (`purse history ... | head`) is the reader's choice, not a failure.
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.map_err(CliError::Output),
    }
}
