//! `purse-bench`: load generator for Purse's wallet gRPC API. Parses flags, runs setup and the
//! chosen modes, prints throughput, latency and visibility percentiles; or mints a cluster token;
//! or measures the Kafka event log alone (`log-readback`). It measures; it never asserts.

mod args;
mod bench;
mod client;
mod error;
mod latency;
mod load;
mod prng;
mod readback;
mod report;
mod setup;
mod token;
mod visibility;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{BenchArgs, Command};
use crate::error::BenchError;

/// Exit code: the run could not be set up.
const EXIT_FAILED: u8 = 1;
/// Exit code: bad flags (clap uses the same code for its own errors).
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    match run(BenchArgs::parse()) {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(if err.is_usage() {
                EXIT_USAGE
            } else {
                EXIT_FAILED
            })
        }
    }
}

/// Does what the flags ask; returns what to print on stdout.
fn run(args: BenchArgs) -> Result<String, BenchError> {
    let json = args.json;
    match args.command.clone() {
        // No runtime needed: a file read and a signature.
        Some(Command::Token(token_args)) => token::mint(&token_args),
        Some(Command::LogReadback(readback_args)) => {
            let summary = runtime()?.block_on(readback::run(readback_args))?;
            Ok(if json {
                report::readback_json(&summary).to_string()
            } else {
                report::readback_human(&summary)
            })
        }
        None => {
            let summary = runtime()?.block_on(bench::run(args))?;
            Ok(if json {
                report::json(&summary).to_string()
            } else {
                report::human(&summary)
            })
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, BenchError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(BenchError::Runtime)
}
