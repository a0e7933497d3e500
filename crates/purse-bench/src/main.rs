//! `purse-bench`: load generator for Purse's wallet gRPC API. Parses flags, runs setup and the
//! chosen modes, prints throughput and latency percentiles. It measures; it never asserts.

mod args;
mod bench;
mod client;
mod error;
mod load;
mod prng;
mod report;
mod setup;

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

use crate::args::BenchArgs;

/// Exit code: the run could not be set up.
const EXIT_FAILED: u8 = 1;
/// Exit code: bad flags (clap uses the same code for its own errors).
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let args = BenchArgs::parse();
    let json = args.json;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: {err:#}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    match runtime.block_on(bench::run(args)) {
        Ok(summary) => {
            if json {
                println!("{}", report::json(&summary));
            } else {
                println!("{}", report::human(&summary));
            }
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
